"""A real OpenID provider for the single sign-on tests: panva's oidc-provider (from the npm
registry, pinned in tests/node) run by the machine's Node.js on a free loopback port, once per
test session (per xdist worker), with the client `riskops` and the test accounts of
tests/node/oidc_provider.mjs. `OidcProvider.authorize` plays the person at the provider: it
follows the authorization request, fills in the provider's login form and returns where the
provider sends the browser back."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import pytest_asyncio

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
SCRIPT = NODE_DIR / "oidc_provider.mjs"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CLIENT_ID = "riskops"
CLIENT_SECRET = "riskops-test-secret"
APP_CALLBACK = "http://testserver/login/sso/callback"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require_node() -> str:
    node = shutil.which("node")
    installed = (NODE_DIR / "node_modules" / "oidc-provider").is_dir()
    if node and installed:
        return node
    message = "Node.js and tests/node's packages are needed (`make node`) for the SSO tests"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class OidcProvider:
    issuer: str
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET

    async def add_account(
        self,
        email: str,
        *,
        groups: list[str] | None = None,
        name: str = "",
        email_verified: bool = True,
    ) -> tuple[str, str]:
        """A person in the provider's directory (each test its own); (e-mail, password)."""
        password = f"pw-{email}"
        account = {"password": password, "name": name or email.split("@")[0],
                   "groups": groups or [], "email_verified": email_verified}  # fmt: skip
        async with httpx.AsyncClient() as http:
            r = await http.post(f"{self.issuer}/__test/accounts", json={email: account})
            assert r.status_code == 204, r.text
        return email, password

    def add_account_now(self, email: str, groups: list[str]) -> tuple[str, str]:
        """`add_account` for synchronous tests (the browser tests)."""
        password = f"pw-{email}"
        account = {"password": password, "name": email.split("@")[0], "groups": groups}
        r = httpx.post(f"{self.issuer}/__test/accounts", json={email: account})
        assert r.status_code == 204, r.text
        return email, password

    async def next_id_token(self, **tamper: Any) -> None:
        """The next ID token the provider issues: `audience_of="riskops-other"` (meant for
        another application) or `ttl=1` (expires after a second)."""
        async with httpx.AsyncClient() as http:
            r = await http.post(f"{self.issuer}/__test/next-id-token", json=tamper)
            assert r.status_code == 204, r.text

    async def authorize(
        self,
        http: httpx.AsyncClient,
        url: str,
        email: str,
        password: str,
        callback: str = APP_CALLBACK,
    ) -> str:
        """Follow the authorization request `url` at the provider as the person `email` would
        (with the provider's cookies in `http`) and return the callback URL it sends back to."""
        for _ in range(10):
            r = await http.get(url)
            if r.status_code == 200 and 'name="login"' in r.text:
                action = r.text.split('action="', 1)[1].split('"', 1)[0]
                r = await http.post(urljoin(url, action),
                                    data={"login": email, "password": password})  # fmt: skip
                assert r.status_code == 303, r.text
            assert r.status_code in (302, 303), (r.status_code, r.text[:500])
            url = urljoin(url, r.headers["location"])
            if url.startswith(callback):
                return url
        raise AssertionError("the provider never sent the browser back")  # pragma: no cover


def app_path(url: str) -> str:
    """The path and query of a URL on the app (the test client's base is http://testserver)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@contextmanager
def running_provider(log_dir: Path, redirect_uri: str) -> Iterator[OidcProvider]:
    """The provider on a free loopback port, accepting `redirect_uri`, until the block ends."""
    node = _require_node()
    port = _free_port()
    log = log_dir / "provider.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [node, str(SCRIPT), "--port", str(port), "--client-id", CLIENT_ID,
             "--client-secret", CLIENT_SECRET, "--redirect-uri", redirect_uri],
            cwd=NODE_DIR, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    issuer = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            if proc.poll() is not None:
                pytest.fail(f"the OpenID provider exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail(f"the OpenID provider did not start:\n{log.read_text()}")
        yield OidcProvider(issuer)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    with running_provider(tmp_path_factory.mktemp("oidc"), APP_CALLBACK) as provider:
        yield provider


@pytest_asyncio.fixture
async def provider_browser() -> AsyncIterator[httpx.AsyncClient]:
    """The provider's side of one browser: its own cookies at the provider."""
    async with httpx.AsyncClient(timeout=10) as http:
        yield http
