"""Issue 14's login figure: the second step's TOTP code is checked by one statement on
PostgreSQL. The password step writes on its challenge what that statement checks against
(`LoginChallenge.totp_check`: the factor, keyed digests of its codes for the challenge's
lifetime, the rate limit's accounts to clear)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('riskops', '0026_login_reserve')]

    initial = False

    operations = [
        ops.AddField(
            model_name='LoginChallenge',
            name='totp_check',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
