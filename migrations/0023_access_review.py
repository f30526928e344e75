from tortoise import migrations


class Migration(migrations.Migration):
    # Issue 15: a place in the chain kept for one part, filled in by its builder.
    dependencies = [("riskops", "0022_retention")]

    initial = False

    operations: list = []
