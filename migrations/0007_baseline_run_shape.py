from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("riskops", "0006_runs_and_customer_index")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Baseline",
            name="credits_per_item",
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name="Baseline",
            name="prompt_tokens",
            field=fields.FloatField(null=True),
        ),
    ]
