from tortoise import migrations
from tortoise.migrations import operations as ops
from riskops.server.identity.models import UserKind
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('riskops', '0011_policy_maker_checker')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='ApiToken',
            index=Index(fields=['created_by_id']),
        ),
        ops.AddField(
            model_name='User',
            name='kind',
            field=fields.CharEnumField(default=UserKind.PERSON, description='PERSON: person\nSERVICE: service', enum_type=UserKind, max_length=16),
        ),
        ops.AddField(
            model_name='User',
            name='minted_service_tokens',
            field=fields.BooleanField(default=False),
        ),
    ]
