from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from riskops.server.views.models import PromotionStatus, ReviewDecision, ReviewRole, ViewQueue, ViewScope, ViewStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('riskops', '0016_audit_hardening')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SavedView',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.ForeignKeyField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='views', on_delete=OnDelete.CASCADE)),
                ('owner', fields.ForeignKeyField('riskops.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='views', on_delete=OnDelete.RESTRICT)),
                ('queue', fields.CharEnumField(description='ALERTS: alerts\nRUNS: runs', enum_type=ViewQueue, max_length=16)),
                ('scope', fields.CharEnumField(default=ViewScope.PERSONAL, description='PERSONAL: personal\nTEAM: team\nSTANDARD: standard', enum_type=ViewScope, max_length=16)),
                ('team', fields.ForeignKeyField('riskops.Team', source_field='team_id', null=True, db_constraint=True, to_field='id', related_name='views', on_delete=OnDelete.SET_NULL)),
                ('name', fields.CharField(max_length=120)),
                ('description', fields.TextField(default='', unique=False)),
                ('definition', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=ViewStatus.ACTIVE, description='ACTIVE: active\nARCHIVED: archived', enum_type=ViewStatus, max_length=16)),
                ('version', fields.IntField(default=1)),
                ('published_number', fields.IntField(null=True)),
                ('draft', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('draft_by', fields.ForeignKeyField('riskops.User', source_field='draft_by_id', null=True, db_constraint=True, to_field='id', related_name='view_drafts', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'saved_view', 'app': 'riskops', 'indexes': [Index(fields=['org_id', 'queue', 'scope', 'status']), Index(fields=['org_id', 'owner_id'])], 'pk_attr': 'id', 'table_description': 'A saved queue definition. For a standard view, definition is the version in force and'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ViewCount',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org_id', fields.IntField()),
                ('view', fields.ForeignKeyField('riskops.SavedView', source_field='view_id', db_constraint=True, to_field='id', related_name='counts', on_delete=OnDelete.CASCADE)),
                ('user_id', fields.IntField(default=0)),
                ('view_version', fields.IntField()),
                ('count', fields.IntField()),
                ('exact', fields.BooleanField(default=True)),
                ('counted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'saved_view_count', 'app': 'riskops', 'unique_together': (('view', 'user_id'),), 'pk_attr': 'id', 'table_description': 'The cached row count of a view for one person (user 0: the same for everyone, when the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ViewPreference',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.ForeignKeyField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='view_preferences', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('riskops.User', source_field='user_id', db_constraint=True, to_field='id', related_name='view_preferences', on_delete=OnDelete.CASCADE)),
                ('view', fields.ForeignKeyField('riskops.SavedView', source_field='view_id', db_constraint=True, to_field='id', related_name='preferences', on_delete=OnDelete.CASCADE)),
                ('queue', fields.CharEnumField(description='ALERTS: alerts\nRUNS: runs', enum_type=ViewQueue, max_length=16)),
                ('is_default', fields.BooleanField(default=False)),
                ('pinned', fields.BooleanField(default=False)),
            ],
            options={'table': 'saved_view_preference', 'app': 'riskops', 'unique_together': (('user', 'view'),), 'pk_attr': 'id', 'table_description': 'A person and one view: their default view of its queue, and whether it is pinned to their'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ViewPromotionRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.ForeignKeyField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='view_promotions', on_delete=OnDelete.CASCADE)),
                ('view', fields.ForeignKeyField('riskops.SavedView', source_field='view_id', db_constraint=True, to_field='id', related_name='promotions', on_delete=OnDelete.CASCADE)),
                ('requested_by', fields.ForeignKeyField('riskops.User', source_field='requested_by_id', db_constraint=True, to_field='id', related_name='view_promotions', on_delete=OnDelete.RESTRICT)),
                ('rationale', fields.TextField(unique=False)),
                ('snapshot', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('base_number', fields.IntField(null=True)),
                ('status', fields.CharEnumField(default=PromotionStatus.VALIDATING, description='VALIDATING: validating\nINVALID: invalid\nPENDING_REVIEW: pending_review\nAPPROVED: approved\nPUBLISHED: published\nDECLINED: declined\nWITHDRAWN: withdrawn', enum_type=PromotionStatus, max_length=16)),
                ('version', fields.IntField(default=1)),
                ('rows_selected', fields.IntField(null=True)),
                ('took_ms', fields.IntField(null=True)),
                ('problems', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('validated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('job_error', fields.TextField(null=True, unique=False)),
                ('job_attempts', fields.IntField(default=0)),
                ('decline_reason', fields.TextField(null=True, unique=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('published_number', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'saved_view_promotion', 'app': 'riskops', 'indexes': [Index(fields=['org_id', 'status']), Index(fields=['org_id', 'requested_by_id'])], 'pk_attr': 'id', 'table_description': 'A request to publish a snapshot of a view definition as its standard version.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ViewReview',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.ForeignKeyField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='view_reviews', on_delete=OnDelete.CASCADE)),
                ('request', fields.ForeignKeyField('riskops.ViewPromotionRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='reviews', on_delete=OnDelete.CASCADE)),
                ('reviewer', fields.ForeignKeyField('riskops.User', source_field='reviewer_id', db_constraint=True, to_field='id', related_name='view_reviews', on_delete=OnDelete.RESTRICT)),
                ('role', fields.CharEnumField(description='COMPLIANCE: compliance_reviewer\nPRODUCT: product_reviewer', enum_type=ReviewRole, max_length=32)),
                ('decision', fields.CharEnumField(description='APPROVE: approve\nDECLINE: decline', enum_type=ReviewDecision, max_length=16)),
                ('note', fields.TextField(default='', unique=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'saved_view_review', 'app': 'riskops', 'unique_together': (('request', 'role'), ('request', 'reviewer')), 'pk_attr': 'id', 'table_description': 'One reviewer decision on a promotion request, in one reviewer role.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ViewVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.ForeignKeyField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='view_versions', on_delete=OnDelete.CASCADE)),
                ('view', fields.ForeignKeyField('riskops.SavedView', source_field='view_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('name', fields.CharField(max_length=120)),
                ('description', fields.TextField(default='', unique=False)),
                ('definition', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('request', fields.ForeignKeyField('riskops.ViewPromotionRequest', source_field='request_id', null=True, db_constraint=True, to_field='id', related_name='published', on_delete=OnDelete.SET_NULL)),
                ('requested_by', fields.ForeignKeyField('riskops.User', source_field='requested_by_id', null=True, db_constraint=True, to_field='id', related_name='view_versions_requested', on_delete=OnDelete.SET_NULL)),
                ('approvals', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('published_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'saved_view_version', 'app': 'riskops', 'unique_together': (('view', 'number'),), 'pk_attr': 'id', 'table_description': 'One published standard version of a view, kept for its history page.'},
            bases=['Model'],
        ),
    ]
