from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('riskops', '0015_rule_id_casefold_index')]

    initial = False

    operations = [
        ops.AddField(
            model_name='IdempotencyKey',
            name='entity',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.CreateModel(
            name='AuditRefusal',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org_id', fields.IntField()),
                ('actor', fields.CharField(max_length=120)),
                ('actor_type', fields.CharField(max_length=16)),
                ('operation', fields.CharField(max_length=120)),
                ('minute', fields.CharField(max_length=17)),
                ('permission', fields.CharField(null=True, max_length=80)),
                ('attempts', fields.IntField(default=1)),
                ('reported', fields.IntField(default=0)),
                ('first_seq', fields.BigIntField(null=True)),
            ],
            options={'table': 'audit_refusal', 'app': 'riskops', 'unique_together': (('org_id', 'actor', 'operation', 'minute'),), 'indexes': [Index(fields=['minute'])], 'pk_attr': 'id', 'table_description': 'Permission refusals counted per organization, actor, operation and minute.'},
            bases=['Model'],
        ),
    ]
