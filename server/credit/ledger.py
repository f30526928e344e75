"""One record of a run ledger (a JSONL line) into our normalized run input (pure, no database),
and the seed's run files on disk (`runs/CREDIT_MONITORING/<date>/run_<id>.json`) found and read
into such records (`run_files`, `read_run_file`).

Accepts the field names of seed 002's ledger and run JSON (`Scenario_ID`, `Credits_Total`,
`Risk_Flags`, `Job_Type`, `Severity`, `retry_count`, `has_max_items_config`, `dispatch_blocked`,
`scenario_id`) and our own snake_case API names (`run_id`, `scenario`, `credits_total`, …). The
seed shows only some of its ledger columns; for the rest we accept the same Title_Snake spelling
(`Run_ID`, `Items_Processed`, …) so a ledger written in that style imports whole.

Every field is checked and all problems of a record are reported at once: one `Invalid` whose
`field` is the first bad field, always in our canonical name (`credits_total` for
`Credits_Total`; the message keeps the record's spelling), and whose `extra["errors"]` lists each
`{field, message}`. `Severity` and `dispatch_blocked` are what the producer reported; we classify
the run ourselves and keep them only as `reported_severity` / `reported_dispatch_blocked`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from riskops.server.core import validation
from riskops.server.core.errors import Invalid
from riskops.server.credit import json_files
from riskops.server.credit.classification import RunFacts, parse_flags
from riskops.server.credit.terms import DataClassification, Severity

# canonical name -> the other names accepted for it
ALIASES: dict[str, tuple[str, ...]] = {
    "run_id": ("Run_ID",),
    "scenario": ("Scenario_ID", "scenario_id"),
    "job_type": ("Job_Type",),
    "started_at": ("Started_At",),
    "finished_at": ("Finished_At",),
    "credits_total": ("Credits_Total",),
    "prompt_tokens": ("Prompt_Tokens",),
    "completion_tokens": ("Completion_Tokens",),
    "items_processed": ("Items_Processed",),
    "retry_count": ("Retry_Count",),
    "has_max_items_config": ("Has_Max_Items_Config",),
    "deployment_ref": ("Deployment_Ref",),
    "deployed_at": ("Deployed_At",),
    "data_classification": ("Data_Classification",),
    "risk_flags": ("Risk_Flags",),
    "artifacts": ("Artifacts",),
    "rerun_of": ("Rerun_Of",),
    "reported_severity": ("Severity",),
    "reported_dispatch_blocked": ("dispatch_blocked", "Dispatch_Blocked"),
}
REQUIRED = ("run_id", "scenario", "credits_total")
# Seed 002's scenario configuration (config/scenarios/<scenario_id>.json), not a run's fields:
# a ledger line carrying one is refused with where the setting belongs.
SCENARIO_CONFIG: dict[str, str] = {
    "max_items": "the scenario's configuration, not a run's: set it on the "
    "scenario's page (/scenarios/<key>, Configuration), with updateScenario(maxItems:) or in "
    "the scenario's file (riskops scenarios import); a run reports only has_max_items_config.",
    "is_backfill": "the scenario's backfill mode, not a run's: turn on the "
    "BACKFILL kill switch for the scenario (/kill-switches, setKillSwitch, riskops "
    "killswitch set, or is_backfill in the scenario's file: riskops scenarios import) instead.",
}
_CONFIG_ALIASES = {"Max_Items": "max_items", "Is_Backfill": "is_backfill"}
ACCEPTED: tuple[str, ...] = tuple(
    sorted({*ALIASES, *(a for names in ALIASES.values() for a in names)})
)
_CANONICAL = {alias: name for name, names in ALIASES.items() for alias in (name, *names)}

MAX_RUN_ID = 128
MAX_SCENARIO = 128
MAX_JOB_TYPE = 64
MAX_REF = 200
MAX_URI = 1000
MAX_FLAGS = 32
MAX_ARTIFACTS = 100
# The ranges of the ledger's numbers (docs/CREDIT_MONITORING.md "Ranges"): far above any real run,
# low enough that a week's or a scenario's sums stay exact and finite on both databases.
MAX_CREDITS = 1_000_000_000_000  # credits_total: 10^12
CREDIT_DECIMALS = 6
MAX_COUNT = 1_000_000_000_000  # prompt_tokens, completion_tokens, items_processed: 10^12
MAX_RETRIES = 1_000_000  # retry_count
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-/]*$")
SCENARIO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def _text(value: Any, name: str, max_len: int, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text, not {value!r}.", field=name)
    if not value.strip():
        raise Invalid(f"{name} must not be empty.", field=name)
    value = validation.text(value, name, max_len=max_len)  # length, control characters
    if pattern is not None and not pattern.match(value):
        raise Invalid(
            f"{name} {value!r} may hold only letters, digits and {_punct(pattern)}, "
            "starting with a letter or digit.",
            field=name,
        )
    return value


def _punct(pattern: re.Pattern[str]) -> str:
    return "_ . : - /" if pattern is RUN_ID_RE else "_ . -"


def _number(value: Any, name: str) -> float:
    # Kept to 6 decimals (a millionth of a credit): a run's credits are 0 or at least 10^-6, so
    # no ratio over them (multiplier, candidate variance, change %) can overflow.
    return round(float(validation.number(value, name, lo=0, hi=MAX_CREDITS)), CREDIT_DECIMALS)


def _count(value: Any, name: str, limit: int = MAX_COUNT) -> int:
    # 12.0 is accepted: some producers write every JSON number as a float.
    return int(validation.number(value, name, lo=0, hi=limit, whole=True))


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{name} must be true or false, not {value!r}.", field=name)
    return value


def _time(value: Any, name: str) -> datetime:
    """ISO 8601; a time without a timezone is taken as UTC. Returned in UTC."""
    if not isinstance(value, str):
        raise Invalid(
            f"{name} must be an ISO 8601 time like 2024-01-23T10:00:00Z, not {value!r}.",
            field=name,
        )
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(
            f"{name} {value!r} is not an ISO 8601 time like 2024-01-23T10:00:00Z.", field=name
        ) from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _classification(value: Any, name: str) -> str:
    choices = ", ".join(c.value for c in DataClassification)
    if isinstance(value, str) and value.strip().lower() in {c.value for c in DataClassification}:
        return value.strip().lower()
    raise Invalid(f"{name} {value!r} is unknown; use one of {choices}.", field=name)


def _flags(value: Any, name: str) -> list[str]:
    if not isinstance(value, list):
        raise Invalid(f"{name} must be a list of flag names, not {value!r}.", field=name)
    if len(value) > MAX_FLAGS:
        raise Invalid(f"{name} has {len(value)} flags; the limit is {MAX_FLAGS}.", field=name)
    return sorted(f.value for f in parse_flags(value, name))


def _severity(value: Any, name: str) -> str | None:
    if isinstance(value, str) and value.strip().lower() in ("", "none"):
        return None
    if isinstance(value, str) and value.strip().upper() in {s.value for s in Severity}:
        return value.strip().upper()
    choices = ", ".join(s.value for s in Severity)
    raise Invalid(f"{name} {value!r} is unknown; use one of {choices}, none or null.", field=name)


def _artifacts(value: Any, name: str) -> list[dict[str, str | None]]:
    if not isinstance(value, list):
        raise Invalid(f"{name} must be a list of {{uri, sha256}} objects.", field=name)
    if len(value) > MAX_ARTIFACTS:
        raise Invalid(f"{name} has {len(value)} items; the limit is {MAX_ARTIFACTS}.", field=name)
    out: list[dict[str, str | None]] = []
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"uri", "sha256"}:
            raise Invalid(f"{where} must be an object with uri and optional sha256.", field=where)
        sha = item.get("sha256")
        if sha is not None and not (isinstance(sha, str) and SHA256_RE.match(sha.lower())):
            raise Invalid(f"{where}.sha256 must be 64 hexadecimal digits.", field=where)
        out.append(
            {
                "uri": _text(item.get("uri"), f"{where}.uri", MAX_URI),
                "sha256": sha.lower() if isinstance(sha, str) else None,
            }
        )
    return out


PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "run_id": lambda v, n: _text(v, n, MAX_RUN_ID, RUN_ID_RE),
    "scenario": lambda v, n: _text(v, n, MAX_SCENARIO, SCENARIO_RE),
    "job_type": lambda v, n: _text(v, n, MAX_JOB_TYPE),
    "started_at": _time,
    "finished_at": _time,
    "credits_total": _number,
    "prompt_tokens": _count,
    "completion_tokens": _count,
    "items_processed": _count,
    "retry_count": lambda v, n: _count(v, n, MAX_RETRIES),
    "has_max_items_config": _bool,
    "deployment_ref": lambda v, n: _text(v, n, MAX_REF),
    "deployed_at": _time,
    "data_classification": _classification,
    "risk_flags": _flags,
    "artifacts": _artifacts,
    "rerun_of": lambda v, n: _text(v, n, MAX_RUN_ID, RUN_ID_RE),
    "reported_severity": _severity,
    "reported_dispatch_blocked": _bool,
}
# What a missing (or null) optional field becomes.
DEFAULTS: dict[str, Any] = {
    "retry_count": 0,
    "risk_flags": [],
    "artifacts": [],
}


def parse_record(record: Any) -> dict[str, Any]:
    """A ledger record in either naming style → a dict with every canonical field (missing
    optional ones are None, or 0 / [] for retry_count / risk_flags / artifacts)."""
    if not isinstance(record, Mapping):
        raise Invalid("A ledger record must be a JSON object.", field="record")
    errors: list[Invalid] = []
    given: dict[str, tuple[str, Any]] = {}  # canonical -> (name used, value)
    for key in record:
        config = _CONFIG_ALIASES.get(str(key), str(key))
        if config in SCENARIO_CONFIG:
            errors.append(Invalid(f"{key} is {SCENARIO_CONFIG[config]}", field=config))
    unknown = sorted(
        str(k) for k in record
        if k not in _CANONICAL and _CONFIG_ALIASES.get(str(k), str(k)) not in SCENARIO_CONFIG
    )  # fmt: skip
    if unknown:
        errors.append(
            Invalid(
                f"Unknown field(s) {', '.join(unknown)}; the accepted fields are: "
                f"{', '.join(ACCEPTED)}.",
                field=unknown[0],
            )
        )
    for key, value in record.items():
        name = _CANONICAL.get(key)
        if name is None:
            continue
        if name in given:
            errors.append(
                Invalid(f"{key} and {given[name][0]} are the same field; give it once.", field=name)
            )
            continue
        given[name] = (key, value)
    out: dict[str, Any] = {}
    for name, parse in PARSERS.items():
        key, value = given.get(name, (name, None))
        if value is None:
            if name in REQUIRED:
                errors.append(Invalid(f"{name} is required.", field=name))
            out[name] = DEFAULTS.get(name)
            continue
        try:
            out[name] = parse(value, key)
        except Invalid as e:
            # The message speaks the record's spelling; `field` is always our canonical name.
            where = (e.field or key).replace(key, name, 1)
            errors.append(Invalid(e.message, field=where))
    if not errors:
        errors = _inconsistencies(out)
    if errors:
        raise _combined(errors)
    return out


def _inconsistencies(out: dict[str, Any]) -> list[Invalid]:
    """Problems between fields that are each valid on their own."""
    errors = []
    started, finished = out["started_at"], out["finished_at"]
    if started is not None and finished is not None and finished < started:
        errors.append(Invalid("finished_at is before started_at.", field="finished_at"))
    if out["rerun_of"] is not None and out["rerun_of"] == out["run_id"]:
        errors.append(Invalid("rerun_of names the run itself.", field="rerun_of"))
    return errors


def _combined(errors: list[Invalid]) -> Invalid:
    if len(errors) == 1:
        e = errors[0]
        return Invalid(e.message, field=e.field, errors=[{"field": e.field, "message": e.message}])
    return Invalid(
        " ".join(e.message for e in errors),
        field=errors[0].field,
        errors=[{"field": e.field, "message": e.message} for e in errors],
    )


def parse_line(line: str) -> dict[str, Any]:
    """One JSONL line → parse_record. Bad JSON is an Invalid on field "record"."""
    validation.shallow_json(line, "The line's JSON", "record")  # json.loads would recurse
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise Invalid(f"Not valid JSON: {e.msg} at column {e.colno}.", field="record") from None
    return parse_record(record)


def run_facts(parsed: Mapping[str, Any], *, scenario_backfill: bool = False) -> RunFacts:
    """The classification input of a parsed record."""
    return RunFacts(
        credits_total=parsed["credits_total"],
        items_processed=parsed["items_processed"],
        retry_count=parsed["retry_count"],
        has_max_items_config=parsed["has_max_items_config"],
        job_type=parsed["job_type"],
        prompt_tokens=parsed["prompt_tokens"],
        completion_tokens=parsed["completion_tokens"],
        data_classification=parsed["data_classification"],
        producer_flags=frozenset(parsed["risk_flags"]),
        deployed_at=parsed["deployed_at"],
        started_at=parsed["started_at"],
        scenario_backfill=scenario_backfill,
    )


# --- the seed's run files: runs/CREDIT_MONITORING/<YYYY-MM-DD>/run_<id>.json -------------------

MAX_RUN_FILE_BYTES = 1_048_576  # a run record is a few kilobytes; 100 artifacts stay far below
MAX_RUN_FILES = 100_000  # one import; a larger history is imported a folder at a time
RUN_FILE_RE = re.compile(r"^run_(.+)\.json$")
DATE_DIR_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Where the date folders may be, from the directory given: the seed's tree from its root, from
# runs/, from runs/CREDIT_MONITORING/ itself.
_TREE_ROOTS = (Path("runs") / "CREDIT_MONITORING", Path("CREDIT_MONITORING"), Path("."))
LAYOUT = "runs/CREDIT_MONITORING/<YYYY-MM-DD>/run_<id>.json"


@dataclass(frozen=True)
class RunFile:
    """One run file of the seed's tree: its date folder and the run id its name gives."""

    path: Path
    day: date | None  # None: the folder looks like a date but is not one (the file is refused)
    run_id: str

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.path.parent.name, self.run_id, self.path.name)


def _is_date_dir(path: Path) -> bool:
    return DATE_DIR_RE.match(path.name) is not None and path.is_dir()


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def run_files(root: Path) -> list[RunFile]:
    """The run files under `root`, in a stable order (date folder, then run id). `root` is the
    seed's tree at any of its levels: the folder holding runs/, runs/ itself,
    runs/CREDIT_MONITORING/, or one date folder. Other files (the ledger, `.sha256` sidecars,
    artifacts) and other folders (QUARANTINE/, CREDIT_REVIEWS/) are left alone. Refused with
    what was expected: not a directory, no run file."""
    if not root.is_dir():
        raise Invalid(
            f"{root} is not a directory; give a ledger file or the folder of the seed's run "
            f"files ({LAYOUT}).",
            field="path",
        )
    if DATE_DIR_RE.match(root.name):
        days = [root]
    else:
        base = next(
            (root / sub for sub in _TREE_ROOTS
             if (root / sub).is_dir() and any(_is_date_dir(p) for p in (root / sub).iterdir())),
            None,
        )  # fmt: skip
        days = sorted(p for p in base.iterdir() if _is_date_dir(p)) if base is not None else []
    found: list[RunFile] = []
    for folder in days:
        day = _day(folder.name)
        for path in folder.iterdir():
            m = RUN_FILE_RE.match(path.name)
            if m is not None:
                found.append(RunFile(path, day, m.group(1)))
        if len(found) > MAX_RUN_FILES:
            raise Invalid(
                f"{root} holds more than {MAX_RUN_FILES:,} run files; import it one date "
                "folder (or a few) at a time.",
                field="path",
            )
    if not found:
        raise Invalid(
            f"no run files found in {root}: expected {LAYOUT} (date folders holding "
            "run_<id>.json files), or a ledger file.",
            field="path",
        )
    return sorted(found, key=lambda f: f.sort_key)


def read_run_file(run_file: RunFile) -> dict[str, Any]:
    """A run file's record, with the run id of its name when the record has none. Refused (an
    Invalid naming what is wrong): a folder that is not a date, an oversized or unreadable file,
    text that is not UTF-8 or not a JSON object, a SHA-256 sidecar (`run_<id>.json.sha256`) that
    does not match, a run id in the record other than the file name's."""
    path = run_file.path
    if run_file.day is None:
        raise Invalid(
            f"folder {path.parent.name} is not a calendar date (YYYY-MM-DD); move the file "
            "into the folder of the day it ran.",
            field="file",
        )
    raw = json_files.read_limited(path, MAX_RUN_FILE_BYTES, "a run file")
    _check_sidecar(path, raw)
    record = json_files.json_of(raw)
    if not isinstance(record, dict):
        raise Invalid("the file must hold one JSON object (one run).", field="json")
    given = [k for k in ("run_id", "Run_ID") if k in record and record[k] is not None]
    for key in given:
        if record[key] != run_file.run_id:
            raise Invalid(
                f"the file name gives run id {run_file.run_id!r} but {key} is "
                f"{record[key]!r}; rename the file or correct the record.",
                field="run_id",
            )
    if not given:
        record = {**record, "run_id": run_file.run_id}
    return record


def _check_sidecar(path: Path, raw: bytes) -> None:
    """The seed writes `run_<id>.json.sha256` beside a run file (`sha256sum` output or the bare
    digest): when it is there, the file must match it."""
    sidecar = path.with_name(path.name + ".sha256")
    if not sidecar.is_file():
        return
    try:
        words = sidecar.read_text(encoding="utf-8", errors="replace").split()
    except OSError as e:
        raise Invalid(
            f"the file's {sidecar.name} cannot be read: {e.strerror or e}.", field="file"
        ) from None
    expected = words[0].lower() if words else ""
    actual = hashlib.sha256(raw).hexdigest()
    if not SHA256_RE.match(expected):
        raise Invalid(
            f"the file's {sidecar.name} holds no SHA-256 (64 hexadecimal digits).", field="file"
        )
    if expected != actual:
        raise Invalid(
            f"the file's SHA-256 {actual} does not match {sidecar.name} ({expected}): the "
            "file changed after it was written; restore it or write the sidecar again.",
            field="file",
        )
