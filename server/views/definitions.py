"""What a saved view holds, checked against the same filter schema as the queue it saves.

A definition is `{"filters": {...}, "columns": [...], "sort": "..."}`:
- the alert queue's filters are `AlertFilter`'s fields (`riskops.server.triage.queue_filters`),
  checked by the queue's own `validate` (all errors at once, each under its field);
- the runs ledger's filters are `RunFilter`'s (`riskops.server.credit.runs`);
- columns are a subset of the queue's columns, in the order to show them;
- sort is one of the queue's sorts.

`parse` refuses anything the queue could not run, naming the field (`FilterErrors`: every field at
once, prefixed `filters.`, `columns` or `sort`); `Definition.to_json` is the canonical stored form,
so the same definition always compares and hashes the same. `describe` and `diff` put a
definition and a change in words for reviewers (never JSON).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from riskops.server.core import validation
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.credit.runs import RunFilter
from riskops.server.credit.terms import RiskFlag, Severity
from riskops.server.triage.queue import SORTS as ALERT_SORTS
from riskops.server.triage.queue_filters import AlertFilter, Collect, FilterErrors, validate
from riskops.server.views.models import ViewQueue

MAX_DEFINITION_BYTES = 4096  # a definition is a handful of filters: anything bigger is refused
MAX_NAME = 120
MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class Column:
    name: str
    label: str


@dataclass(frozen=True)
class QueueSpec:
    """One queue a view can save: its filters, columns, sorts, and who may read it."""

    queue: ViewQueue
    label: str  # "alert queue"
    path: str  # the page the view opens on
    read: Perm  # who may read the queue (and so see its standard views)
    filters: tuple[str, ...]
    columns: tuple[Column, ...]
    sorts: tuple[str, ...]
    default_sort: str

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column_label(self, name: str) -> str:
        return next((c.label for c in self.columns if c.name == name), name)


ALERTS = QueueSpec(
    queue=ViewQueue.ALERTS,
    label="alert queue",
    path="/alerts",
    read=Perm.ALERT_READ,
    filters=tuple(AlertFilter.__dataclass_fields__),
    columns=(
        Column("external_id", "External id"),
        Column("title", "Title"),
        Column("score", "Score"),
        Column("priority", "Priority"),
        Column("status", "Status"),
        Column("assignee", "Assignee"),
        Column("amount", "Amount"),
        Column("created", "Created (UTC)"),
        Column("due", "SLA due"),
    ),
    sorts=tuple(ALERT_SORTS),
    default_sort="score",
)

RUNS = QueueSpec(
    queue=ViewQueue.RUNS,
    label="runs ledger",
    path="/runs",
    read=Perm.RUN_READ,
    filters=("severities", "scenario", "flag", "since", "until", "quarantined"),
    columns=(
        Column("started", "Started (UTC)"),
        Column("run", "Run"),
        Column("scenario", "Scenario"),
        Column("credits", "Credits"),
        Column("multiple", "× baseline"),  # noqa: RUF001 (the ledger header)
        Column("severity", "Severity"),
        Column("flags", "Flags"),
        Column("state", "State"),
        Column("case", "Case"),
    ),
    sorts=("newest",),
    default_sort="newest",
)

QUEUES: dict[ViewQueue, QueueSpec] = {ViewQueue.ALERTS: ALERTS, ViewQueue.RUNS: RUNS}

_SORT_WORDS = {
    "score": "highest score first",
    "created": "newest first",
    "due": "SLA due soonest first",
    "amount": "largest amount first",
    "newest": "newest first",
}


def spec_of(queue: ViewQueue | str) -> QueueSpec:
    try:
        return QUEUES[ViewQueue(queue)]
    except ValueError:
        raise Invalid(
            f"Queue '{queue}' is unknown; use {validation.choices(q.value for q in ViewQueue)}.",
            field="queue",
        ) from None


@dataclass(frozen=True)
class Definition:
    """A checked definition: filters normalized (no empty values), columns, sort."""

    queue: ViewQueue
    filters: Mapping[str, Any]
    columns: tuple[str, ...]
    sort: str
    spec: QueueSpec = field(repr=False, compare=False, hash=False, default=ALERTS)

    def to_json(self) -> dict[str, Any]:
        return {"filters": dict(self.filters), "columns": list(self.columns), "sort": self.sort}

    def alert_filter(self) -> AlertFilter:
        f = self.filters
        return AlertFilter(
            status=list(f.get("status", [])),
            priority=list(f.get("priority", [])),
            score_min=f.get("score_min"),
            score_max=f.get("score_max"),
            assignee=f.get("assignee"),
            team=f.get("team"),
            rule_id=f.get("rule_id"),
            amount_min=f.get("amount_min"),
            amount_max=f.get("amount_max"),
            currency=f.get("currency"),
            created_from=_dt(f.get("created_from")),
            created_to=_dt(f.get("created_to")),
            text=f.get("text"),
        )

    def run_filter(self) -> RunFilter:
        f = self.filters
        return RunFilter(
            severities=tuple(f.get("severities", ())),
            scenario=f.get("scenario"),
            flag=f.get("flag"),
            since=_dt(f.get("since")),
            until=_dt(f.get("until")),
            quarantined=f.get("quarantined"),
        )

    @property
    def uses_me(self) -> bool:
        """The rows depend on who looks (assignee "me"): counts are kept per person."""
        return self.filters.get("assignee") == "me"


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def _parse_dt(value: Any, name: str) -> str:
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Invalid(
                f"{validation.label(name)} '{value}' is not a date and time; use ISO 8601 with a "
                "time zone, like 2026-12-01T00:00:00+00:00.",
                field=name,
            ) from None
    else:
        raise Invalid(f"{validation.label(name)} must be a date and time.", field=name)
    if when.tzinfo is None:
        raise Invalid(
            f"{validation.label(name)} must be a date and time with a time zone.", field=name
        )
    return when.astimezone(UTC).isoformat()


def _alert_filters(raw: Mapping[str, Any], sort: str, check: Collect) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("created_from", "created_to"):
        if not _is_empty(raw.get(name)):
            value = check(partial(_parse_dt, raw[name], name))
            if value is not None:
                out[name] = value
    flt = AlertFilter(
        status=_list(raw.get("status")),
        priority=_list(raw.get("priority")),
        score_min=raw.get("score_min"),
        score_max=raw.get("score_max"),
        assignee=raw.get("assignee"),
        team=raw.get("team"),
        rule_id=raw.get("rule_id"),
        amount_min=raw.get("amount_min"),
        amount_max=raw.get("amount_max"),
        currency=raw.get("currency"),
        created_from=_dt(out.get("created_from")),
        created_to=_dt(out.get("created_to")),
        text=raw.get("text"),
    )
    for name in ("rule_id", "text", "currency", "assignee"):
        value = raw.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            check.add(name, f"{validation.label(name)} must be text.")
    if check.errors:
        return out
    try:
        c = validate(flt, sort if sort in ALERT_SORTS else None)
    except FilterErrors as exc:
        for name, message in exc.errors.items():
            check.add(name, message)
        return out
    values: dict[str, Any] = {
        "status": c.status,
        "priority": c.priority,
        "score_min": c.score_min,
        "score_max": c.score_max,
        "assignee": c.assignee,
        "team": c.team,
        "rule_id": c.rule_id,
        "amount_min": str(c.amount_min) if c.amount_min is not None else None,
        "amount_max": str(c.amount_max) if c.amount_max is not None else None,
        "currency": c.currency,
        "text": c.text or None,
    }
    out.update({k: v for k, v in values.items() if not _is_empty(v)})
    return out


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _run_filters(raw: Mapping[str, Any], check: Collect) -> dict[str, Any]:
    out: dict[str, Any] = {}
    severities = raw.get("severities")
    if not _is_empty(severities):
        values = _list(severities)
        names = [s.value for s in Severity] + ["none"]
        if len(values) > len(names):
            check.add("severities", f"Severity: at most {len(names)} values.")
        else:
            bad = [v for v in values if v.strip().upper().replace("NONE", "none") not in names]
            if bad:
                check.add(
                    "severities",
                    f"Severity {', '.join(map(repr, bad))} is unknown; use "
                    f"{validation.choices(names)}.",
                )
            else:
                out["severities"] = sorted({v.strip().upper().replace("NONE", "none")
                                            for v in values})  # fmt: skip
    if not _is_empty(raw.get("scenario")):
        key = check(lambda: validation.scenario_key(raw["scenario"], "scenario"))
        if key is not None:
            out["scenario"] = key
    flag = raw.get("flag")
    if not _is_empty(flag):
        known = [f.value for f in RiskFlag]
        if not isinstance(flag, str) or flag.strip() not in known:
            check.add(
                "flag", f"Flag {flag!r} is unknown; choose one of {validation.choices(known)}."
            )
        else:
            out["flag"] = flag.strip()
    for name in ("since", "until"):
        if not _is_empty(raw.get(name)):
            value = check(partial(_parse_dt, raw[name], name))
            if value is not None:
                out[name] = value
    if "since" in out and "until" in out and out["since"] > out["until"]:
        check.add("since", "Since is after Until.")
    quarantined = raw.get("quarantined")
    if quarantined is not None and quarantined != "":
        if not isinstance(quarantined, bool):
            check.add("quarantined", "Quarantined must be true or false.")
        else:
            out["quarantined"] = quarantined
    return out


def parse(queue: ViewQueue | str, raw: Any) -> Definition:
    """Check a definition (a dict, or its JSON text) for `queue`; every problem at once as
    `FilterErrors` keyed `filters.<field>`, `columns`, `sort` or `definition`."""
    spec = spec_of(queue)
    if isinstance(raw, str | bytes):
        if len(raw) > MAX_DEFINITION_BYTES:
            raise FilterErrors({"definition": _too_big(len(raw))})
        try:
            raw = json.loads(raw)
        except ValueError:
            raise FilterErrors(
                {"definition": "The definition is not JSON; send an object with filters, "
                 "columns and sort."}
            ) from None  # fmt: skip
    if not isinstance(raw, Mapping):
        raise FilterErrors(
            {"definition": "The definition must be an object with filters, columns and sort."}
        )
    size = len(json.dumps(raw, default=str))
    if size > MAX_DEFINITION_BYTES:
        raise FilterErrors({"definition": _too_big(size)})
    check = Collect()
    unknown = sorted(set(raw) - {"filters", "columns", "sort"})
    if unknown:
        check.add(
            "definition",
            f"Unknown part(s) {', '.join(map(repr, unknown))}; a definition has filters, columns "
            "and sort.",
        )
    filters = raw.get("filters") or {}
    if not isinstance(filters, Mapping):
        check.add("filters", "Filters must be an object of filter names and values.")
        filters = {}
    bad = sorted(set(filters) - set(spec.filters))
    for name in bad:
        check.add(
            f"filters.{name}",
            f"Filter '{name}' is not a filter of the {spec.label}; use {', '.join(spec.filters)}.",
        )
    sort = raw.get("sort") or spec.default_sort
    if not isinstance(sort, str) or sort not in spec.sorts:
        check.add("sort", f"Sort '{sort}' is unknown for the {spec.label}; use "
                  f"{validation.choices(spec.sorts)}.")  # fmt: skip
        sort = spec.default_sort
    columns_raw = raw.get("columns")
    columns: list[str] = []
    if columns_raw is None or columns_raw == []:
        columns = list(spec.column_names)
    elif not isinstance(columns_raw, list | tuple):
        check.add("columns", "Columns must be a list of column names.")
    elif len(columns_raw) > len(spec.columns):
        check.add("columns", f"Columns: at most {len(spec.columns)} (each column once).")
    else:
        for name in columns_raw:
            if not isinstance(name, str) or name not in spec.column_names:
                check.add(
                    "columns",
                    f"Column {name!r} is not a column of the {spec.label}; use "
                    f"{', '.join(spec.column_names)}.",
                )
            elif name not in columns:
                columns.append(name)
    inner = Collect()
    known = {k: v for k, v in filters.items() if k in spec.filters}
    if spec.queue is ViewQueue.ALERTS:
        clean = _alert_filters(known, sort, inner)
    else:
        clean = _run_filters(known, inner)
    for name, message in inner.errors.items():
        check.add(f"filters.{name}", message)
    if check.errors:
        raise FilterErrors(check.errors)
    return Definition(spec.queue, dict(sorted(clean.items())), tuple(columns), sort, spec)


def _too_big(size: int) -> str:
    return (
        f"The definition is {size} bytes; the limit is {MAX_DEFINITION_BYTES}. A view saves a "
        "handful of filters: remove long lists or text."
    )


def stored(queue: ViewQueue | str, data: Mapping[str, Any]) -> Definition:
    """A definition read back from the database (it was checked when saved). If a later release
    made it invalid, `parse` says why."""
    return parse(queue, dict(data))


# --- in words ----------------------------------------------------------------------------------

_FILTER_LABELS = {
    "status": "Status",
    "priority": "Priority",
    "score_min": "Score from",
    "score_max": "Score to",
    "assignee": "Assignee",
    "team": "Team",
    "rule_id": "Rule",
    "amount_min": "Amount from",
    "amount_max": "Amount to",
    "currency": "Currency",
    "created_from": "Created from",
    "created_to": "Created before",
    "text": "Text contains",
    "severities": "Severity",
    "scenario": "Scenario",
    "flag": "Flag",
    "since": "Started since",
    "until": "Started before",
    "quarantined": "Quarantined",
}


def filter_label(name: str) -> str:
    return _FILTER_LABELS.get(name, validation.label(name))


def value_words(name: str, value: Any, names: Mapping[str, str] | None = None) -> str:
    """One filter's value in words; `names` maps "team:3" / "user:7" to a display name."""
    names = names or {}
    if isinstance(value, list):
        return " or ".join(value_words(name, v, names) for v in value)
    if name == "assignee":
        if value == "me":
            return "me (whoever looks)"
        if value == "unassigned":
            return "nobody (unassigned)"
        return names.get(f"user:{value}", f"user #{value} (no longer exists)")
    if name == "team":
        return names.get(f"team:{value}", f"team #{value} (no longer exists)")
    if name in ("created_from", "created_to", "since", "until") and isinstance(value, str):
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if name == "quarantined":
        return "yes" if value else "no"
    if name == "text":
        return f"“{value}”"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def describe(defn: Definition, names: Mapping[str, str] | None = None) -> list[str]:
    """The definition in words, one line per part: filters in the queue's order, then sort and
    columns."""
    spec = defn.spec
    lines = [
        f"{filter_label(n)}: {value_words(n, defn.filters[n], names)}"
        for n in spec.filters
        if n in defn.filters
    ]
    if not lines:
        lines.append(f"No filters: every row of the {spec.label}")
    lines.append(f"Sort: {_SORT_WORDS.get(defn.sort, defn.sort)}")
    lines.append("Columns: " + ", ".join(spec.column_label(c) for c in defn.columns))
    return lines


@dataclass(frozen=True)
class Change:
    part: str  # "Status", "Sort", "Columns"
    before: str  # "" when the part is new
    after: str  # "" when the part is removed

    @property
    def words(self) -> str:
        if not self.before:
            return f"{self.part}: added, {self.after}"
        if not self.after:
            return f"{self.part}: removed (was {self.before})"
        return f"{self.part}: {self.before} → {self.after}"


def diff(
    old: Definition | None, new: Definition, names: Mapping[str, str] | None = None
) -> list[Change]:
    """What changes from `old` (the standard version in force; None: there is none) to `new`,
    part by part, in words. An empty list: nothing changes."""
    spec = new.spec
    changes: list[Change] = []
    before_filters = old.filters if old else {}
    for n in spec.filters:
        a, b = before_filters.get(n), new.filters.get(n)
        if a != b:
            changes.append(
                Change(
                    filter_label(n),
                    value_words(n, a, names) if a is not None else "",
                    value_words(n, b, names) if b is not None else "",
                )
            )
    old_sort = old.sort if old else ""
    if old_sort != new.sort:
        changes.append(Change("Sort", _SORT_WORDS.get(old_sort, old_sort), _SORT_WORDS[new.sort]))
    old_cols = old.columns if old else ()
    if old_cols != new.columns:
        changes.append(
            Change(
                "Columns",
                ", ".join(spec.column_label(c) for c in old_cols),
                ", ".join(spec.column_label(c) for c in new.columns),
            )
        )
    return changes
