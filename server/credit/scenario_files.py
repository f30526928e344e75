"""The seed's per-scenario configuration files, `config/scenarios/<scenario_id>.json` (seed 002:
`jq '.max_items = 1000'`, `jq '.is_backfill = true'`), read into riskops and written back out.

A file is one JSON object; the scenario's key is the file name (`scenario_id` in the object, when
given, must be the same). Its fields, each optional except that the file is an object:

    name, max_items, data_classification, dispatch_target   the scenario's configuration
    is_backfill                                              backfill mode: the BACKFILL kill
                                                             switch of the scenario
    version                                                  the scenario's version the file
                                                             was exported from (optimistic check)

Reading a file changes the scenario through the scenario service (`create_scenario`,
`update_scenario`: permission, version check, audit) and backfill mode through the kill switch
service (`set_kill_switch`, `clear_kill_switch`: approvers only, with a reason). A field the
file leaves out keeps its value; `max_items: null` means no limit. Exporting writes every field,
so a file exported and read back changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riskops.server.core.errors import Conflict, Forbidden, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import json_files, kill_switches
from riskops.server.credit.models import KillSwitch, Scenario
from riskops.server.credit.policy import parse_reason
from riskops.server.credit.scenarios import (
    MAX_SCENARIO_KEY,
    SCENARIO_KEY_RE,
    create_scenario,
    parse_classification,
    parse_dispatch_target,
    parse_max_items,
    parse_name,
    update_scenario,
)

MAX_SCENARIO_FILE_BYTES = 65_536  # a handful of settings
MAX_SCENARIO_FILES = 1000  # the scenarios an organization lists
CONFIG_FIELDS = ("name", "max_items", "data_classification", "dispatch_target")
FIELDS = ("scenario_id", *CONFIG_FIELDS, "is_backfill", "version")
LAYOUT = "config/scenarios/<scenario_id>.json"
_VALUE_CHECKS = {
    "name": parse_name,
    "max_items": parse_max_items,
    "data_classification": parse_classification,
    "dispatch_target": parse_dispatch_target,
}


@dataclass(frozen=True)
class ScenarioFile:
    """One file as read: the key, the configuration fields it gives (checked and normalized),
    backfill mode if it gives it, and the version it was exported from."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)
    is_backfill: bool | None = None
    version: int | None = None


def scenario_paths(root: Path) -> list[Path]:
    """The scenario files to read: `root` itself when it is a file, else the JSON (and, to be
    refused by name, YAML) files directly in it, by name."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise Invalid(
            f"{root}: no such file or directory; give the folder of the scenario files "
            f"({LAYOUT}) or one file.",
            field="path",
        )
    paths = sorted(
        p for p in root.iterdir() if p.suffix.lower() in (".json", ".yaml", ".yml")
    )  # fmt: skip
    if not paths:
        raise Invalid(
            f"no scenario files found in {root}: expected {LAYOUT} (one JSON object per "
            "scenario, named by its key).",
            field="path",
        )
    if len(paths) > MAX_SCENARIO_FILES:
        raise Invalid(
            f"{root} holds {len(paths):,} scenario files; the limit is {MAX_SCENARIO_FILES:,}.",
            field="path",
        )
    return paths


def read_scenario_file(path: Path) -> ScenarioFile:
    """A scenario file checked field by field (an Invalid names the first problem)."""
    if path.suffix.lower() != ".json":
        raise Invalid(
            f"{path.suffix} files are not read: write the scenario as JSON ({path.stem}.json).",
            field="file",
        )
    key = path.stem
    if not SCENARIO_KEY_RE.match(key) or len(key) > MAX_SCENARIO_KEY:
        raise Invalid(
            f"the file name {path.name!r} is not a scenario key: letters, digits and _ . -, "
            f"starting with a letter or digit, at most {MAX_SCENARIO_KEY} characters.",
            field="file",
        )
    raw = json_files.read_limited(path, MAX_SCENARIO_FILE_BYTES, "a scenario file")
    data = json_files.json_of(raw)
    return parse_scenario_config(data, key)


def parse_scenario_config(data: Any, key: str) -> ScenarioFile:
    """One scenario's configuration object (as a file holds it) for the scenario `key`."""
    if not isinstance(data, dict):
        raise Invalid("the file must hold one JSON object (one scenario).", field="json")
    unknown = sorted(str(k) for k in data if k not in FIELDS)
    if unknown:
        raise Invalid(
            f"Unknown field(s) {', '.join(unknown)}; a scenario file has: {', '.join(FIELDS)}. "
            "(Baselines are set with `riskops baseline`, not here.)",
            field=unknown[0],
        )
    given = data.get("scenario_id")
    if given is not None and given != key:
        raise Invalid(
            f"the file name gives scenario {key!r} but scenario_id is {given!r}; rename the "
            "file or correct scenario_id.",
            field="scenario_id",
        )
    values = {name: _VALUE_CHECKS[name](data[name]) for name in CONFIG_FIELDS if name in data}
    backfill = data.get("is_backfill")
    if backfill is not None and not isinstance(backfill, bool):
        raise Invalid(f"is_backfill must be true or false, not {backfill!r}.", field="is_backfill")
    version = data.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or version < 1):  # fmt: skip
        raise Invalid(
            f"version must be the scenario's version the file was exported from (a whole number "
            f"from 1), not {version!r}; leave it out to apply the file to the version in force.",
            field="version",
        )
    return ScenarioFile(key, values, backfill, version)


def _backfill_switch(switches: list[KillSwitch], key: str) -> KillSwitch | None:
    return next(
        (s for s in switches if s.name == kill_switches.SwitchName.BACKFILL and s.scope == key),
        None,
    )


async def apply_scenario_file(principal: Principal, sf: ScenarioFile, reason: str | None) -> str:
    """Create or update the scenario `sf` describes and set its backfill mode; returns what was
    done ("created", "updated max_items", "unchanged", "…; backfill mode on"). Refused before
    any change: backfill mode to change by someone who may not (approvers set kill switches) or
    without a reason."""
    principal.require(Perm.BASELINE_PROPOSE)
    now = datetime.now(UTC)
    existing = await scoped(Scenario, principal).filter(key=sf.key).first()
    switch = _backfill_switch(await kill_switches.active_switches(principal.org_id, now), sf.key)
    toggle = sf.is_backfill is not None and sf.is_backfill != (switch is not None)
    text = ""
    if toggle:
        state = "on" if sf.is_backfill else "off"
        if not principal.can(Perm.POLICY_MANAGE):
            raise Forbidden(
                f"Turning backfill mode {state} for {sf.key} is a kill switch, set by "
                "approvers; leave is_backfill as it is or ask an approver.",
                permission=Perm.POLICY_MANAGE.value,
                field="is_backfill",
            )
        if not (reason or "").strip():
            raise Invalid(
                f"is_backfill turns backfill mode {state} for {sf.key}: give --reason (it is "
                "kept with the kill switch).",
                field="reason",
            )
        text = parse_reason(reason)
    done: list[str] = []
    if existing is None:
        await create_scenario(
            principal,
            sf.key,
            name=sf.values.get("name", sf.key),
            max_items=sf.values.get("max_items"),
            data_classification=sf.values.get("data_classification", "internal"),
            dispatch_target=sf.values.get("dispatch_target"),
        )
        done.append("created")
    else:
        changed = [k for k, v in sf.values.items() if getattr(existing, k) != v]
        if changed:
            current = {k: getattr(existing, k) for k in CONFIG_FIELDS}
            new = {**current, **sf.values}
            try:
                await update_scenario(
                    principal,
                    sf.key,
                    name=new["name"],
                    max_items=new["max_items"],
                    data_classification=new["data_classification"],
                    dispatch_target=new["dispatch_target"],
                    expected_version=sf.version if sf.version is not None else existing.version,
                )
            except Conflict as e:
                raise Conflict(
                    f"{e.message} The file was exported from version {sf.version}: export the "
                    "scenario again, make the change in the new file and import that.",
                    field="version",
                ) from None
            done.append("updated " + ", ".join(changed))
    if toggle:
        if sf.is_backfill:
            await kill_switches.set_kill_switch(principal, "backfill", sf.key, text)
        else:
            assert switch is not None
            await kill_switches.clear_kill_switch(principal, switch.id, text)
        done.append(f"backfill mode {'on' if sf.is_backfill else 'off'}")
    return "; ".join(done) or "unchanged"


async def export_scenarios(principal: Principal) -> list[dict[str, Any]]:
    """Every scenario of the organization as its file holds it (every field), by key."""
    principal.require(Perm.RUN_READ)
    switches = await kill_switches.active_switches(principal.org_id, datetime.now(UTC))
    backfill = kill_switches.backfill_scenarios(switches)
    rows = await scoped(Scenario, principal).order_by("key")
    return [
        {
            "scenario_id": s.key,
            "name": s.name,
            "max_items": s.max_items,
            "is_backfill": s.key in backfill,
            "data_classification": s.data_classification,
            "dispatch_target": s.dispatch_target,
            "version": s.version,
        }
        for s in rows
    ]
