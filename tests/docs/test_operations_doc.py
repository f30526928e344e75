"""docs/OPERATIONS.md and docs/INTEGRATORS.md cite commands that exist: every `riskops GROUP
COMMAND` and every option they give it is one the CLI has (read from the CLI itself, as
`--help` shows it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from riskops.server.cli.main import load_every_group

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / "OPERATIONS.md", ROOT / "docs" / "INTEGRATORS.md"]
# Commands a doc may cite before they exist (none now; kept for work built on parallel branches).
PENDING: set[str] = set()
PENDING_COMMANDS: set[tuple[str, ...]] = set()
PENDING_OPTIONS: set[tuple[str, str]] = set()
CITED = re.compile(r"`(riskops [^`]*)`")


def cli() -> Any:
    """The CLI's root group, as `riskops --help` is drawn from it."""
    command = load_every_group()  # every command module, as running each command would
    assert _is_group(command)
    return command


def _is_group(command: Any) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def citations() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text()
        out += [(doc.name, m) for m in CITED.findall(text)]
        # Commands in the code blocks (the integrators' guide runs them).
        fenced = False
        for line in text.splitlines():
            if line.startswith("```"):
                fenced = not fenced
            elif fenced and line.strip().startswith("riskops "):
                out.append((doc.name, line.strip().rstrip("\\").strip()))
    return out


def _words(cited: str) -> list[str]:
    # `riskops runs show RUN-ID S | jq …`: the command ends at a pipe or redirection.
    return re.split(r"\\?\||>", cited)[0].split()


def _resolve(group: Any, words: list[str]) -> tuple[Any, list[str]]:
    """The command the words name (skipping the global options) and the words after it."""
    rest = words[1:]
    while rest and rest[0].startswith("--"):  # `riskops --database-url URL backup …`
        rest = rest[2:]
    command = group
    while _is_group(command) and rest and not rest[0].startswith("-"):
        name = rest[0]
        if "|" in name or name not in command.commands:
            return None, rest
        command, rest = command.commands[name], rest[1:]
    return command, rest


def test_every_cited_command_and_option_exists() -> None:
    group = cli()
    missing = []
    for doc, cited in citations():
        words = _words(cited)
        if len(words) < 2:
            continue
        first = next((w for w in words[1:] if not w.startswith("-") and "URL" not in w), "")
        alternatives = first.split("|")
        if set(alternatives) <= PENDING:
            continue
        command, rest = _resolve(group, words)
        if command is None:
            head = rest[0] if rest else ""
            if head == "…" or head.isupper():
                continue  # a placeholder: `riskops GROUP --help`
            parent = _resolve(group, words[: len(words) - len(rest)])[0]
            names = [(str(parent.name), h) for h in head.split("|")] if parent else []
            if names and all(n in PENDING_COMMANDS for n in names):
                continue
            if all(_is_group(parent) and h in parent.commands for h in head.split("|")):
                continue  # `riskops baseline calculate|update`: each alternative exists
            missing.append(f"{doc}: `{cited}` (no command {head!r})")
            continue
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        for word in rest:
            option = word.split("=")[0]
            if (str(command.name), option) in PENDING_OPTIONS:
                continue
            if option.startswith("--") and option not in options and option != "--help":
                missing.append(f"{doc}: `{cited}` (no option {option})")
    assert not missing, "\n".join(missing)
