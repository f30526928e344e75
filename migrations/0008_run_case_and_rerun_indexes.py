from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("riskops", "0007_baseline_run_shape")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Run",
            index=Index(fields=["case_id"]),
        ),
        ops.AddIndex(
            model_name="Run",
            index=Index(fields=["rerun_of_id"]),
        ),
    ]
