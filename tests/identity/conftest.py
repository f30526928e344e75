"""Fixtures of the identity tests: the loopback OpenID provider (`sso_provider`)."""

from tests.identity.sso_provider import oidc_server, provider_browser  # noqa: F401
