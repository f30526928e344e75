"""Fixtures of the identity tests: the loopback OpenID provider (`sso_provider`)."""

import pytest

from riskops.server.identity import oidc
from tests.identity.sso_provider import oidc_server, provider_browser  # noqa: F401


@pytest.fixture(autouse=True)
def _providers_fetched_afresh() -> None:
    """Each test starts with nothing kept of any provider (`oidc.CACHE_SECONDS`): a test that
    changes what the loopback provider answers is not answered from an earlier test's fetch."""
    oidc.forget()
