# The "as reported" Severity and dispatch_blocked of a ledger line (issue 11 item 7): kept beside
# the computed ones. Both nullable: runs recorded before were never stored with them.
from tortoise import migrations
from tortoise.migrations import operations as ops
from riskops.server.credit.terms import Severity
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('riskops', '0012_service_accounts')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Run',
            name='reported_dispatch_blocked',
            field=fields.BooleanField(null=True),
        ),
        ops.AddField(
            model_name='Run',
            name='reported_severity',
            field=fields.CharEnumField(null=True, description='SEV0: SEV0\nSEV1: SEV1\nSEV2: SEV2\nSEV3: SEV3', enum_type=Severity, max_length=4),
        ),
    ]
