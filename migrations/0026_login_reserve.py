"""Issue 14's login figure: on PostgreSQL, the rate-limit reservation of a sign-in attempt is one
function call (one round trip) instead of a transaction of five (BEGIN, the advisory locks, the
counts, the insert, COMMIT). `riskops_login_reserve` takes the account's and the IP's advisory
transaction locks (the same keys `identity.attempts.serialise` uses, so both paths exclude each
other), counts their failures since `p_since` (each statement of a volatile function sees what
committed before it: the count follows the lock), and inserts the attempt's failure row unless a
limit is reached (and `p_insert`: the second step counts under the locks and writes its failure
only after checking the code, in the caller's transaction). Returns the row's id (null when
limited or not inserting) and both counts. Called alone, the statement is its own transaction
and the locks are held until it commits; inside a transaction, until that ends. SQLite keeps
the ORM path (one writer).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

_CREATE = """
CREATE OR REPLACE FUNCTION riskops_login_reserve(
    p_account text, p_ip text, p_since timestamptz, p_now timestamptz,
    p_max_account integer, p_max_ip integer, p_insert boolean
) RETURNS TABLE (reserved_id bigint, by_account bigint, by_ip bigint)
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('login-account:' || p_account)),
            pg_advisory_xact_lock(hashtext('login-ip:' || p_ip));
    SELECT count(*) FILTER (WHERE f.account = p_account),
           count(*) FILTER (WHERE f.ip = p_ip)
      INTO by_account, by_ip
      FROM login_failure f
     WHERE (f.account = p_account OR f.ip = p_ip) AND f.at >= p_since;
    reserved_id := NULL;
    IF p_insert AND by_account < p_max_account AND by_ip < p_max_ip THEN
        INSERT INTO login_failure (account, ip, at) VALUES (p_account, p_ip, p_now)
        RETURNING id INTO reserved_id;
    END IF;
    RETURN NEXT;
END
$fn$
"""
_DROP = "DROP FUNCTION IF EXISTS riskops_login_reserve(text, text, timestamptz, timestamptz, integer, integer, boolean)"


async def _forward(apps, schema_editor) -> None:
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(_CREATE)


async def _backward(apps, schema_editor) -> None:
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(_DROP)


class Migration(migrations.Migration):
    dependencies = [("riskops", "0025_response")]

    initial = False

    operations = [ops.RunPython(_forward, _backward)]
