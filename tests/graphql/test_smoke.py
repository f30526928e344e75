"""Smoke: a bearer token reaches the schema and `me` answers."""

from __future__ import annotations

from riskops.server.identity.tokens import create_api_token

ME = "{ me { user { id name } roles permissions viaApiToken organization { slug } } }"


async def test_me_with_bearer_token(tenant, client):
    issued = await create_api_token(
        tenant.admin, user_id=tenant.admin_user.id, name="ci", roles=["admin"]
    )
    r = await client.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": f"Bearer {issued.secret}"},
    )
    assert r.status_code == 200, r.text
    me = r.json()["data"]["me"]
    assert me["user"]["id"] == str(tenant.admin_user.id)
    assert me["organization"]["slug"] == tenant.slug
    assert me["viaApiToken"] is True
    assert "user.manage" in me["permissions"]
