from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('riskops', '0008_run_case_and_rerun_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='KillSwitch',
            name='clear_reason',
            field=fields.TextField(null=True, unique=False),
        ),
    ]
