from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from riskops.server.assistant.models import ResponseKind, ResponseStatus, TargetType
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('riskops', '0017_saved_views')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AssistantResponse',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.ForeignKeyField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='assistant_responses', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='EXPLAIN_ALERT: explain_alert\nSIMILAR_CASES: similar_cases\nESCALATION_DRAFT: escalation_draft\nEXPLAIN_RUN: explain_run', enum_type=ResponseKind, max_length=24)),
                ('target_type', fields.CharEnumField(description='ALERT: alert\nCASE: case\nRUN: run', enum_type=TargetType, max_length=8)),
                ('target_id', fields.IntField()),
                ('requested_by', fields.ForeignKeyField('riskops.User', source_field='requested_by_id', null=True, db_constraint=True, to_field='id', related_name='assistant_requests', on_delete=OnDelete.SET_NULL)),
                ('job_id', fields.UUIDField(null=True)),
                ('status', fields.CharEnumField(default=ResponseStatus.PENDING, description='PENDING: pending\nSUCCEEDED: succeeded\nFAILED: failed\nUNAVAILABLE: unavailable', enum_type=ResponseStatus, max_length=16)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('model', fields.CharField(null=True, max_length=200)),
                ('template_version', fields.CharField(default='', max_length=32)),
                ('prompt_hash', fields.CharField(default='', max_length=64)),
                ('prompt_redacted', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('output', fields.TextField(null=True, unique=False)),
                ('citations', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('dropped_citations', fields.IntField(default=0)),
                ('tokens_in', fields.IntField(default=0)),
                ('tokens_out', fields.IntField(default=0)),
                ('cost', fields.DecimalField(default=0, max_digits=14, decimal_places=6)),
                ('latency_ms', fields.IntField(null=True)),
                ('attempts', fields.IntField(default=0)),
                ('error', fields.TextField(null=True, unique=False)),
                ('helpful', fields.BooleanField(null=True)),
                ('feedback_comment', fields.TextField(null=True, unique=False)),
                ('feedback_by', fields.ForeignKeyField('riskops.User', source_field='feedback_by_id', null=True, db_constraint=True, to_field='id', related_name='assistant_feedback', on_delete=OnDelete.SET_NULL)),
                ('feedback_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('idempotency_key', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'assistant_response', 'app': 'riskops', 'unique_together': (('org_id', 'idempotency_key'),), 'indexes': [Index(fields=['org_id', 'target_type', 'target_id', 'created_at']), Index(fields=['org_id', 'created_at']), Index(fields=['org_id', 'status'])], 'pk_attr': 'id', 'table_description': 'One answer of the assistant about one alert, case or run, from request to feedback.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BudgetNotice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.ForeignKeyField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='assistant_budget_notices', on_delete=OnDelete.CASCADE)),
                ('day', fields.DateField()),
                ('threshold', fields.IntField()),
                ('spent', fields.DecimalField(max_digits=14, decimal_places=6)),
                ('budget', fields.DecimalField(max_digits=14, decimal_places=6)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'assistant_budget_notice', 'app': 'riskops', 'unique_together': (('org_id', 'day', 'threshold'),), 'pk_attr': 'id', 'table_description': 'A budget warning sent for one organization, day and threshold (80 or 95 percent): the'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='CaseNote',
            name='from_response_id',
            field=fields.IntField(null=True),
        ),
    ]
