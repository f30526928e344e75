from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('riskops', '0009_kill_switch_clear_reason')]

    initial = False

    operations = [
        ops.AddField(
            model_name='BaselineChange',
            name='credits_per_item',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='BaselineChange',
            name='decision_rationale',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='BaselineChange',
            name='prompt_tokens',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='BaselineChange',
            name='window_days',
            field=fields.IntField(null=True),
        ),
    ]
