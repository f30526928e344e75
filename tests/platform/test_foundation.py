"""Layout, settings, permission matrix, health and metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_graphql_is_graphql_core_and_ours_is_a_namespace_portion():
    import graphql
    import riskops.graphql.schema as ours

    assert "site-packages" in graphql.__file__, graphql.__file__
    assert not (REPO / "graphql" / "__init__.py").exists()
    assert Path(ours.__file__).resolve().parent == REPO / "graphql"


def test_prod_without_secret_key_is_a_clear_startup_error(monkeypatch, tmp_path):
    from riskops.server.settings import ConfigError, load_settings

    monkeypatch.delenv("RISKOPS_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="RISKOPS_SECRET_KEY must be set when RISKOPS_ENV=prod"):
        load_settings(env="prod", var_dir=tmp_path)
    assert not (tmp_path / "secret_key").exists()
    with pytest.raises(ConfigError, match="too short"):
        load_settings(env="prod", secret_key="short", var_dir=tmp_path)


def test_dev_generates_a_secret_key_once_and_keeps_it(monkeypatch, tmp_path):
    from riskops.server.settings import load_settings

    monkeypatch.delenv("RISKOPS_SECRET_KEY", raising=False)
    first = load_settings(var_dir=tmp_path / "var").secret_key
    second = load_settings(var_dir=tmp_path / "var").secret_key
    assert first and first == second and len(first) >= 32
    assert ((tmp_path / "var" / "secret_key").stat().st_mode & 0o777) == 0o600


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    from riskops.server.settings import load_settings

    monkeypatch.setenv("RISKOPS_DATABASE_URL", "postgres://u@h:5432/d")
    monkeypatch.setenv("RISKOPS_GRAPHQL_MAX_DEPTH", "7")
    s = load_settings(var_dir=tmp_path)
    assert s.db_url == "postgres://u@h:5432/d"
    assert s.graphql_max_depth == 7


def test_permission_matrix_follows_the_product():
    from riskops.server.core.permissions import Perm, permissions_of

    assert Perm.USER_MANAGE in permissions_of(["admin"])
    assert Perm.AUDIT_READ in permissions_of(["compliance_reviewer"])
    assert Perm.AUDIT_READ in permissions_of(["product_reviewer"])
    assert Perm.AUDIT_VERIFY in permissions_of(["viewer"])
    assert Perm.AUDIT_READ not in permissions_of(["viewer"])
    for role in ("viewer", "operator", "approver", "strategist"):
        perms = permissions_of([role])
        assert Perm.USER_MANAGE not in perms and Perm.TOKEN_MANAGE not in perms
    # several roles add up; unknown roles grant nothing
    assert permissions_of(["viewer", "admin"]) >= permissions_of(["admin"])
    assert permissions_of(["root"]) == frozenset()


def test_principal_require_names_the_permission_and_the_fix():
    from riskops.server.core.errors import Forbidden
    from riskops.server.core.permissions import Perm
    from riskops.server.core.principal import Principal

    p = Principal(user_id=1, org_id=1, roles=frozenset({"viewer"}))
    with pytest.raises(Forbidden, match=r"'user.manage'.*Ask an admin"):
        p.require(Perm.USER_MANAGE)


async def test_health_is_ok_and_reports_its_parts(client):
    r = await client.get("/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["queue"]["mode"] == "in-process"
    assert body["audit_spool"]["depth"] == 0
    assert r.headers["x-request-id"]


async def test_health_is_503_while_audit_events_wait_in_the_spool(client, tenant, db, tmp_path):
    from riskops.audit import spool
    from riskops.audit.types import Actor, Entry

    spool.configure(tmp_path / "spool")
    try:
        spool.write(
            spool.to_record(
                Actor(tenant.org_id, "system", "system"),
                Entry("test.spooled", "x", 1),
                "2026-01-01T00:00:00.000000Z",
                "00000000-0000-0000-0000-" + tenant.slug[-12:],
            )
        )
        r = await client.get("/health")
        assert r.status_code == 503
        assert r.json()["audit_spool"]["depth"] == 1
        from riskops.audit.store import flush_spool

        assert await flush_spool() == 1
        assert (await client.get("/health")).status_code == 200
    finally:
        spool.configure(db.settings.spool_dir)


async def test_metrics_count_requests_by_route_template(client, tenant):
    await client.get("/health")
    r = await client.get("/metrics")
    assert r.status_code == 200
    text = r.text
    assert 'riskops_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert "riskops_audit_spool_depth" in text
    assert "riskops_job_queue_depth" in text


async def test_request_id_is_echoed_when_sane_and_replaced_when_not(client):
    r = await client.get("/health", headers={"X-Request-ID": "abc-12345678"})
    assert r.headers["x-request-id"] == "abc-12345678"
    r = await client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"
    assert len(r.headers["x-request-id"]) == 32


async def test_security_headers(client):
    r = await client.get("/health")
    csp = r.headers["content-security-policy"]
    assert "unsafe-eval" not in csp and "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "HX-Request" in r.headers["vary"]


def test_logs_are_json_lines_with_the_request_id():
    import json
    import logging

    from riskops.server.observability import JsonFormatter, request_id_var

    token = request_id_var.set("req-12345678")
    try:
        record = logging.LogRecord(
            "riskops.http", logging.INFO, __file__, 1, "GET %s", ("/x",), None
        )
        record.status = 200
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "GET /x"
    assert line["request_id"] == "req-12345678"
    assert line["status"] == 200 and line["level"] == "info" and line["ts"].endswith("+00:00")


async def test_app_start_flushes_events_left_in_the_spool(db, tenant, tmp_path):
    from riskops.audit import spool
    from riskops.audit.models import AuditEvent
    from riskops.audit.types import Actor, Entry
    from riskops.server.app import create_app

    spool.configure(tmp_path / "spool")
    try:
        uid = "11111111-2222-3333-4444-" + tenant.slug[-12:]
        spool.write(
            spool.to_record(
                Actor(tenant.org_id, "system", "system"),
                Entry("test.left_over", "x", 1),
                "2026-01-01T00:00:00.000000Z",
                uid,
            )
        )
        app = create_app(db.settings, manage_db=False)
        async with app.router.lifespan_context(app):
            assert spool.depth() == 0
        assert await AuditEvent.filter(event_uid=uid, org_id=tenant.org_id).count() == 1
    finally:
        spool.configure(db.settings.spool_dir)
