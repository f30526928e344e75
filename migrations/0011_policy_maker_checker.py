from tortoise import migrations
from tortoise.migrations import operations as ops
from riskops.server.core.approvals import ChangeStatus
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('riskops', '0010_baseline_change_window_and_decision')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PolicyVersion',
            name='decided_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='PolicyVersion',
            name='decided_by',
            field=fields.ForeignKeyField('riskops.User', source_field='decided_by_id', null=True, db_constraint=True, to_field='id', related_name='policy_decisions', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='PolicyVersion',
            name='decision_reason',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='PolicyVersion',
            name='status',
            field=fields.CharEnumField(default=ChangeStatus.APPROVED, description='PROPOSED: proposed\nAPPROVED: approved\nREJECTED: rejected', enum_type=ChangeStatus, max_length=16),
        ),
    ]
