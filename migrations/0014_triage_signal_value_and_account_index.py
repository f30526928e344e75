# A signal value may be text: the same column (JSON), written by AnyJSONField, which encodes a
# Python str instead of passing it through as if it were JSON already (issue 11, item 6). The
# stored data does not change: every value already in the column is encoded JSON.
# And an index on (org_id, account_ref, id): similar alerts take the same account's recent ones
# (item 11).
from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from riskops.server.triage.models import AnyJSONField
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('riskops', '0013_run_reported_values')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='SignalContribution',
            name='value',
            field=AnyJSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddIndex(
            model_name='Alert',
            index=Index(fields=['org_id', 'account_ref', 'id']),
        ),
    ]
