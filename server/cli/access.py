"""`riskops access review` (issue 15, seed 003 DO-002): the access review of an organization on
the command line, from the same service as the page and GraphQL's `accessReview`. Showing it
reads as a compliance reviewer of the organization (audited as the CLI).

Recording it (`--record --as EMAIL`) is done by a person, with their own roles, through the same
service as the page's "Record the review" (`access_review.record_review`, audited
`access_review.record`): one decision per person, `--keep USER[=NOTE]` or `--suspend USER=NOTE`
(USER: an id or an e-mail address; the note is required to suspend, as on the page, and
suspending needs user.manage and revokes the person's sessions and API tokens), and `--note`
for the review. Everything is one transaction: a refused decision records nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from riskops.server.cli.common import (
    CliError,
    _settings,
    app,
    database,
    org_principal,
    out,
    user_principal,
)
from riskops.server.core.permissions import Role
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.identity.models import User
from riskops.server.operations import access_review
from riskops.server.operations.access_review import Decision
from riskops.server.settings import Settings

access_app = typer.Typer(help="The access review (seed 003 DO-002).", no_args_is_help=True)
app.add_typer(access_app, name="access")


async def _review(settings: Settings, org: str, days: int | None) -> dict[str, Any]:
    async with database(settings):
        principal = await org_principal(org, Role.COMPLIANCE_REVIEWER)
        found = await access_review.review(principal, inactive_days=days)
        return found.snapshot()


def _split(given: str, flag: str, *, note_required: bool) -> tuple[str, str]:
    user, sep, note = given.partition("=")
    if not user.strip():
        raise CliError(f"{flag} {given!r}: name the user by id or e-mail (USER=NOTE).")
    if note_required and not note.strip():
        raise CliError(
            f"{flag} {user.strip()}: give the reason as {flag} {user.strip()}=REASON "
            "(a suspension needs a note, as on the page)."
        )
    return user.strip(), note.strip() if sep else ""


async def _user_id(principal: Principal, user: str) -> str:
    """An e-mail address of the organization becomes its user's id; anything else is passed on
    as the id (the service says "not found" for an unknown one, or another organization's)."""
    if "@" not in user:
        return user
    found = await scoped(User, principal).filter(email=user.lower()).first()
    if found is None:
        raise CliError(f"no user '{user}' in this organization (check --keep/--suspend).")
    return str(found.id)


async def _record(
    settings: Settings, org: str, reviewer: str, days: int | None, note: str,
    chosen: list[tuple[str, str, str]],
) -> dict[str, Any]:  # fmt: skip
    async with database(settings):
        principal = await user_principal(org, reviewer)
        decisions = [
            Decision(await _user_id(principal, user), word, why) for user, word, why in chosen
        ]
        row = await access_review.record_review(principal, decisions, inactive_days=days, note=note)
        return {
            "id": row.id, "reviewed_at": row.reviewed_at.isoformat(), "reviewer": row.reviewer,
            "inactive_days": row.inactive_days, "kept": row.kept, "suspended": row.suspended,
            "decisions": [
                {"user_id": d["user_id"], "name": d["name"], "decision": d["decision"]}
                for d in row.decisions
            ],
        }  # fmt: skip


def _when(value: str | None) -> str:
    return value[:10] if value else "never"


@access_app.command("review")
def review_cmd(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", help="Slug or id of the organization.")],
    inactive_days: Annotated[
        int | None,
        typer.Option(
            "--inactive-days",
            help="Inactive: no sign-in or token use for more than this many days "
            "(default: RISKOPS_ACCESS_REVIEW_INACTIVE_DAYS, 90).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the review as JSON.")] = False,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Record the review with the decisions given by --keep and --suspend, as the "
            "person named by --as (kept as evidence, audited).",
        ),
    ] = False,
    reviewer: Annotated[
        str | None,
        typer.Option(
            "--as",
            "--reviewer",
            help="With --record: e-mail of the reviewer (access.review; suspending needs "
            "user.manage too).",
        ),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option("--keep", help="With --record: keep USER[=NOTE] (id or e-mail); repeat."),
    ] = None,
    suspend: Annotated[
        list[str] | None,
        typer.Option(
            "--suspend",
            help="With --record: suspend USER=REASON (id or e-mail; the reason is required); "
            "signs them out everywhere and revokes their API tokens. Repeat.",
        ),
    ] = None,
    note: Annotated[
        str, typer.Option("--note", help="With --record: a note on the review as a whole.")
    ] = "",
) -> None:
    """Who has access and what deserves a look: inactive, privileged and token-holding users,
    MFA, and anomalous activity (more than 100 events of one kind by one actor in 7 days).
    With --record, record the review and its decisions."""
    if not record:
        if keep or suspend or note or reviewer:
            raise CliError(
                "--keep, --suspend, --note and --as record decisions: add --record "
                "(without it the review is only shown)."
            )
    else:
        if not reviewer:
            raise CliError("--record needs --as EMAIL: the person who reviewed.")
        chosen = [(*_split(k, "--keep", note_required=False), "keep") for k in keep or []]
        chosen += [(*_split(x, "--suspend", note_required=True), "suspend") for x in suspend or []]
        if not chosen:
            raise CliError(
                "--record needs at least one decision: --keep USER or --suspend USER=REASON."
            )
        done = asyncio.run(
            _record(_settings(ctx), org, reviewer, inactive_days, note,
                    [(user, word, why) for user, why, word in chosen])
        )  # fmt: skip
        if as_json:
            typer.echo(json.dumps(done, indent=2, sort_keys=True))
            return
        out.print(
            f"Recorded access review {done['id']} by {done['reviewer']}: {done['kept']} kept, "
            f"{done['suspended']} suspended"
            + (" (their sessions and API tokens revoked)." if done["suspended"] else ".")
        )
        return
    snap = asyncio.run(_review(_settings(ctx), org, inactive_days))
    if as_json:
        typer.echo(json.dumps(snap, indent=2, sort_keys=True))
        return
    title = f"Access review (inactive: more than {snap['inactive_days']} days)"
    table = Table("id", "name", "e-mail", "status", "roles", "MFA", "last active", "tokens",
                  "flags", title=title)  # fmt: skip
    for p in snap["people"]:
        table.add_row(
            str(p["user_id"]), p["name"], p["email"], p["status"], " ".join(p["roles"]) or "-",
            "yes" if p["mfa_enabled"] else ("n/a" if p["kind"] == "service" else "NO"),
            _when(p["last_active_at"]), str(p["active_tokens"]), " ".join(p["flags"]) or "-",
        )  # fmt: skip
    out.print(table)
    if snap["anomalies"]:
        odd = Table("actor", "action", "events (7 days)", title="Anomalous activity")
        for a in snap["anomalies"]:
            odd.add_row(a["name"], a["action"], str(a["count"]))
        out.print(odd)
    s = snap["summary"]
    out.print(
        f"{s['people']} users: {s['inactive']} inactive, {s['privileged']} privileged, "
        f"{s['token_holders']} with API tokens, {s['without_mfa']} without MFA, "
        f"{s['anomalies']} anomalies."
    )
