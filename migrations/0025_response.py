"""Issue 16, the response loop: per-organization notification channels (and the outbox row's
destination and dedup_key), the response clock of runs and cases, the incident record of a case
and its archiving, a run's manual-quarantine reason and PII declassification, and the history of
a user account that keeps a suspension reason off the audit chain (issue 15, GDPR)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from riskops.server.notify.models import ChannelKind
from riskops.server.response.models import SubjectKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('riskops', '0024_sync')]

    initial = False

    operations = [
        ops.CreateModel(
            name='NotificationChannel',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.ForeignKeyField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='notification_channels', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('kind', fields.CharEnumField(description='SLACK: slack\nWEBHOOK: webhook\nPAGERDUTY: pagerduty\nEMAIL: email', enum_type=ChannelKind, max_length=16)),
                ('config', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('secret_sealed', fields.TextField(null=True, unique=False)),
                ('events', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_by_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_test_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_test_outcome', fields.TextField(null=True, unique=False)),
                ('archived_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'notification_channel', 'app': 'riskops', 'unique_together': (('org', 'name'),), 'pk_attr': 'id', 'table_description': 'A notification channel an admin of one organization configured (issue 16). config holds'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ResponseClock',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.ForeignKeyField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='response_clocks', on_delete=OnDelete.CASCADE)),
                ('subject_kind', fields.CharEnumField(description='RUN: run\nCASE: case', enum_type=SubjectKind, max_length=8)),
                ('subject_id', fields.IntField()),
                ('severity', fields.CharField(max_length=4)),
                ('needs_ack', fields.BooleanField()),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('acknowledged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('acknowledged_by', fields.ForeignKeyField('riskops.User', source_field='acknowledged_by_id', null=True, db_constraint=True, to_field='id', related_name='acknowledged_clocks', on_delete=OnDelete.SET_NULL)),
                ('level', fields.IntField(default=0)),
                ('escalated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_escalation_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('dedup_key', fields.CharField(max_length=128)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'response_clock', 'app': 'riskops', 'unique_together': (('subject_kind', 'subject_id'),), 'indexes': [Index(fields=['next_escalation_at']), Index(fields=['org_id', 'closed_at', 'due_at'])], 'pk_attr': 'id', 'table_description': 'The response clock of one run or case: its target, its acknowledgement and how far it'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UserEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('riskops.User', source_field='user_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('org_id', fields.IntField()),
                ('action', fields.CharField(max_length=32)),
                ('actor', fields.CharField(max_length=64)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'user_event', 'app': 'riskops', 'indexes': [Index(fields=['user_id', 'at'])], 'pk_attr': 'id', 'table_description': 'The history of a user account: what an admin did to it with detail that may be about'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Case',
            name='archived_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Case',
            name='incident_commander',
            field=fields.ForeignKeyField('riskops.User', source_field='incident_commander_id', null=True, db_constraint=True, to_field='id', related_name='commanded_cases', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Case',
            name='postmortem',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Case',
            name='postmortem_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Case',
            name='postmortem_by',
            field=fields.ForeignKeyField('riskops.User', source_field='postmortem_by_id', null=True, db_constraint=True, to_field='id', related_name='postmortems', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Case',
            name='postmortem_due_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='dedup_key',
            field=fields.CharField(null=True, max_length=128),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='destination',
            field=fields.ForeignKeyField('riskops.NotificationChannel', source_field='destination_id', null=True, db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE),
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['destination_id', 'created_at']),
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['dedup_key']),
        ),
        ops.AddField(
            model_name='Run',
            name='declassified_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Run',
            name='declassified_by',
            field=fields.ForeignKeyField('riskops.User', source_field='declassified_by_id', null=True, db_constraint=True, to_field='id', related_name='declassified_runs', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Run',
            name='quarantine_reason',
            field=fields.TextField(null=True, unique=False),
        ),
    ]
