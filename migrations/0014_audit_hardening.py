from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('riskops', '0011_policy_maker_checker')]

    initial = False

    operations = [
        ops.AddField(
            model_name='IdempotencyKey',
            name='entity',
            field=fields.CharField(null=True, max_length=200),
        ),
    ]
