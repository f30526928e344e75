"""`riskops smoke --url URL`: the post-deploy check of seed 001 SOP2/SOP3 and seed 003 DP-001,
run from any machine that reaches the web server (it needs no database access).

One line per check, and exit 1 when any fails:
1. `health`: GET /health answers 200 (the database, queue and spool are fine);
2. `login`: the login page's form with its CSRF token, then the session cookie (with `--token`,
   the token is checked by the next steps instead);
3. `graphql`: the query `me` answers with the account's e-mail address;
4. `page`: the home page ("My work") renders for that account;
5. `audit`: the head of the organization's audit chain verifies (`auditVerification`);
6. `logout`: the smoke test's session is ended again (not with a token).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from riskops.server.cli.common import CliError, app, out

TIMEOUT_SECONDS = 15.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CSRF_HEADER = re.compile(r'"X-CSRF-Token": "([^"]+)"')
ME = "query Smoke { me { user { email } organization { slug } } }"
AUDIT = "query SmokeAudit { auditVerification { ok headSeq headHash summary } }"


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    ms: float = 0.0


class _Failed(Exception):
    pass


def _graphql(client: Any, query: str) -> dict[str, Any]:
    r = client.get("/graphql", params={"query": query}, headers={"Accept": "application/json"})
    try:
        body = r.json()
    except ValueError:
        raise _Failed(f"HTTP {r.status_code}, not JSON: {r.text[:120]!r}") from None
    errors = body.get("errors") or []
    if r.status_code != 200 or errors:
        message = errors[0].get("message") if errors else r.text[:120]
        raise _Failed(f"HTTP {r.status_code}: {message}")
    return body.get("data") or {}


def _health(client: Any) -> str:
    r = client.get("/health")
    if r.status_code != 200:
        raise _Failed(f"HTTP {r.status_code}: {r.text[:200]}")
    body = r.json()
    return f"status {body.get('status', 'ok')}, version {body.get('version', '?')}"


def _login(client: Any, email: str, password: str) -> str:
    page = client.get("/login")
    found = _CSRF.search(page.text)
    if page.status_code != 200 or not found:
        raise _Failed(f"the login page answered HTTP {page.status_code} without its form")
    r = client.post("/login", data={"email": email, "password": password,
                                    "csrf_token": found.group(1), "next": "/"})  # fmt: skip
    if r.status_code != 303:
        message = re.search(r'role="alert"[^>]*>\s*([^<]+)', r.text)
        why = message.group(1).strip() if message else r.text[:120]
        raise _Failed(f"HTTP {r.status_code}: {why}")
    if r.headers.get("location", "").startswith("/login/"):
        raise _Failed("the account needs a second factor (MFA): use --token for the smoke test")
    if "riskops_session" not in client.cookies:
        raise _Failed("no session cookie was set")
    return f"signed in as {email}"


def _me(client: Any, email: str | None) -> str:
    data = _graphql(client, ME).get("me") or {}
    me = (data.get("user") or {}).get("email")
    if not me or (email and me.lower() != email.lower()):
        raise _Failed(f"`me` answered {me!r}")
    return f"me = {me} in {(data.get('organization') or {}).get('slug')}"


def _page(client: Any) -> str:
    r = client.get("/", headers={"Accept": "text/html"})
    if r.status_code != 200 or "<main" not in r.text:
        raise _Failed(f"the home page answered HTTP {r.status_code}")
    return "home page rendered"


def _audit(client: Any) -> str:
    v = _graphql(client, AUDIT).get("auditVerification") or {}
    if not v.get("ok"):
        raise _Failed(v.get("summary") or "the audit chain does not verify")
    return f"chain head seq {v.get('headSeq')} ({str(v.get('headHash'))[:12]}…) verifies"


def _logout(client: Any) -> str:
    home = client.get("/", headers={"Accept": "text/html"})
    token = _CSRF_HEADER.search(home.text) or _CSRF.search(home.text)
    if token is None:
        raise _Failed("no CSRF token on the home page to sign out with")
    r = client.post("/logout", data={"csrf_token": token.group(1)})
    if r.status_code != 303:
        raise _Failed(f"HTTP {r.status_code}")
    return "signed out"


def run_smoke(url: str, email: str | None, password: str | None, token: str | None) -> list[Step]:
    """The checks, in order; a step that needs a failed one is not run (reported as skipped)."""
    import httpx

    headers = {"User-Agent": "riskops-smoke", "Authorization": f"Bearer {token}"} if token else {
        "User-Agent": "riskops-smoke"}  # fmt: skip
    steps: list[Step] = []
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=TIMEOUT_SECONDS,
                      follow_redirects=False) as client:  # fmt: skip

        def step(name: str, fn: Any, *args: Any) -> bool:
            started = time.perf_counter()
            try:
                detail, ok = fn(client, *args), True
            except _Failed as exc:
                detail, ok = str(exc), False
            except httpx.HTTPError as exc:
                detail, ok = f"{type(exc).__name__}: {exc or 'no answer'}", False
            steps.append(Step(name, ok, detail, (time.perf_counter() - started) * 1000))
            return ok

        answered = step("health", _health) or steps[0].detail.startswith("HTTP")
        if not answered:
            return steps  # nothing answers at URL: the rest would say the same
        signed_in = True
        if token is None:
            signed_in = step("login", _login, email, password)
        else:
            steps.append(Step("login", True, "skipped: authenticated by --token"))
        if not signed_in:
            return steps
        step("graphql", _me, None if token else email)
        step("page", _page)
        step("audit", _audit)
        if token is None:
            step("logout", _logout)
    return steps


@app.command("smoke")
def smoke_cmd(
    url: Annotated[
        str, typer.Option("--url", help="The deployed riskops, e.g. https://risk.example.com")
    ],
    email: Annotated[str | None, typer.Option("--email", help="Account to sign in with.")] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="Its password (or RISKOPS_SMOKE_PASSWORD).",
            envvar="RISKOPS_SMOKE_PASSWORD",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="An API token instead of e-mail and password (or RISKOPS_SMOKE_TOKEN).",
            envvar="RISKOPS_SMOKE_TOKEN",
        ),
    ] = None,
) -> None:
    """Post-deploy smoke test: health, login, a GraphQL query, a page and the audit chain head.

    Prints one line per check and exits 1 when any fails. Use an account without MFA (a
    dedicated smoke user) or `--token` with a service account's API token."""
    if not url.startswith(("http://", "https://")):
        raise CliError(f"--url must start with http:// or https:// (got {url!r}).")
    if token is None and not (email and password):
        raise CliError("give --email and --password (or --token) for the login check.")
    steps = run_smoke(url, email, password, token)
    for s in steps:
        mark = "[green]PASS[/]" if s.ok else "[bold red]FAIL[/]"
        out.print(f"{mark} {s.name:<8} {s.detail} ({s.ms:.0f} ms)")
    failed = [s.name for s in steps if not s.ok]
    if failed:
        raise CliError(f"smoke test failed: {', '.join(failed)}.")
    out.print(f"Smoke test passed: {len(steps)} checks against {url}.")
