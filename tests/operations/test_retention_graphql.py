"""Retention over GraphQL: the periods (set, partly set, cleared to forever), errors as data with
nothing changed, permission first, and enforcing now."""

from __future__ import annotations

from riskops.server.operations.retention_models import RetentionPolicy, RetentionRun

POLICY = "{ retentionPolicy { alertsDays runsDays assistantDays sessionsDays version } }"
SET = """
mutation($a: Int, $s: Int) {
  setRetentionPolicy(alertsDays: $a, sessionsDays: $s) {
    retentionPolicy { alertsDays runsDays sessionsDays version }
    errors { code message field }
  }
}"""
SET_ALERTS = """
mutation($a: Int) {
  setRetentionPolicy(alertsDays: $a) {
    retentionPolicy { alertsDays sessionsDays version }
    errors { code message field }
  }
}"""
RUN = "mutation { runRetention { retentionRun { trigger removed } errors { code message } } }"


async def test_an_admin_sets_reads_and_enforces_the_policy(tenant, api) -> None:
    secret = await api.token(tenant, tenant.admin_user)
    empty = (await api.data(secret, POLICY))["retentionPolicy"]
    assert empty == {"alertsDays": None, "runsDays": None, "assistantDays": None,
                     "sessionsDays": None, "version": 0}  # fmt: skip
    done = (await api.data(secret, SET, {"a": 365, "s": 30}))["setRetentionPolicy"]
    assert done["errors"] == []
    assert done["retentionPolicy"] == {"alertsDays": 365, "runsDays": None, "sessionsDays": 30,
                                       "version": 1}  # fmt: skip
    # Only alertsDays given: sessions keep their value; null clears alerts to "forever".
    done = (await api.data(secret, SET_ALERTS, {"a": None}))["setRetentionPolicy"]
    assert done["retentionPolicy"] == {"alertsDays": None, "sessionsDays": 30, "version": 2}

    ran = (await api.data(secret, RUN))["runRetention"]
    assert ran["errors"] == [] and ran["retentionRun"]["trigger"] == "api"
    assert ran["retentionRun"]["removed"] == {"sessions": 0}
    runs = (await api.data(secret, "{ retentionRuns { trigger removed } }"))["retentionRuns"]
    assert runs == [{"trigger": "api", "removed": {"sessions": 0}}]


async def test_a_bad_period_is_an_error_and_changes_nothing(tenant, api) -> None:
    secret = await api.token(tenant, tenant.admin_user)
    await api.data(secret, SET_ALERTS, {"a": 10})
    done = (await api.data(secret, SET_ALERTS, {"a": 0}))["setRetentionPolicy"]
    assert done["retentionPolicy"] is None
    (error,) = done["errors"]
    assert error["code"] == "INVALID" and error["field"] == "alerts_days"
    assert "from 1 to 36,500" in error["message"]
    policy = await RetentionPolicy.get(org_id=tenant.org_id)
    assert (policy.alerts_days, policy.version) == (10, 1)


async def test_without_retention_manage_it_is_forbidden_before_validation(tenant, api) -> None:
    user, _ = await tenant.user("operator")
    secret = await api.token(tenant, user)
    done = (await api.data(secret, SET_ALERTS, {"a": 0}))["setRetentionPolicy"]
    assert [e["code"] for e in done["errors"]] == ["FORBIDDEN"]
    ran = (await api.data(secret, RUN))["runRetention"]
    assert [e["code"] for e in ran["errors"]] == ["FORBIDDEN"]
    read = await api.gql(secret, POLICY)
    assert read["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert not await RetentionPolicy.filter(org_id=tenant.org_id).exists()
    assert not await RetentionRun.filter(org_id=tenant.org_id).exists()
