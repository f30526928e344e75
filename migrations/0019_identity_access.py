from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from riskops.server.identity.models import ChallengeStage, LinkPurpose, MfaPolicy
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('riskops', '0018_assistant')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LoginChallenge',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('user', fields.ForeignKeyField('riskops.User', source_field='user_id', db_constraint=True, to_field='id', related_name='login_challenges', on_delete=OnDelete.CASCADE)),
                ('org_id', fields.IntField()),
                ('stage', fields.CharEnumField(description='MFA: mfa\nENROL: enrol', enum_type=ChallengeStage, max_length=8)),
                ('via', fields.CharField(default='password', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ip', fields.CharField(null=True, max_length=64)),
                ('user_agent', fields.CharField(null=True, max_length=300)),
            ],
            options={'table': 'login_challenge', 'app': 'riskops', 'pk_attr': 'id', 'table_description': 'The step between a right password and a session. id is the SHA-256 of the cookie value'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MfaFactor',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('riskops.User', source_field='user_id', db_constraint=True, to_field='id', related_name='mfa_factor', on_delete=OnDelete.CASCADE)),
                ('secret_sealed', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('confirmed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_step', fields.BigIntField(null=True)),
            ],
            options={'table': 'mfa_factor', 'app': 'riskops', 'pk_attr': 'id', 'table_description': 'A TOTP factor (RFC 6238). The secret is sealed with the installation key. last_step is'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OneTimeLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.ForeignKeyField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='one_time_links', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('riskops.User', source_field='user_id', db_constraint=True, to_field='id', related_name='one_time_links', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharEnumField(description='INVITATION: invitation\nPASSWORD_RESET: password_reset', enum_type=LinkPurpose, max_length=16)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_by_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'identity_link', 'app': 'riskops', 'indexes': [Index(fields=['user_id', 'purpose'])], 'pk_attr': 'id', 'table_description': 'A one-time link sent to a user (invitation or password reset). Only the SHA-256 of the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrgSecurity',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.OneToOneField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='security', on_delete=OnDelete.CASCADE)),
                ('mfa_policy', fields.CharEnumField(default=MfaPolicy.OPTIONAL, description='OPTIONAL: optional\nPRIVILEGED: privileged\nEVERYONE: everyone', enum_type=MfaPolicy, max_length=16)),
                ('sso_only', fields.BooleanField(default=False)),
                ('break_glass_user', fields.ForeignKeyField('riskops.User', source_field='break_glass_user_id', null=True, db_constraint=True, to_field='id', related_name='break_glass_for', on_delete=OnDelete.SET_NULL)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_by_id', fields.IntField(null=True)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'org_security', 'app': 'riskops', 'pk_attr': 'id', 'table_description': 'The security policy of one organization: who must use MFA, and whether only single'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RecoveryCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('riskops.User', source_field='user_id', db_constraint=True, to_field='id', related_name='recovery_codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mfa_recovery_code', 'app': 'riskops', 'indexes': [Index(fields=['user_id', 'used_at'])], 'pk_attr': 'id', 'table_description': 'One of the ten one-time recovery codes of a confirmed factor (stored hashed).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SsoConfig',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('org', fields.OneToOneField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='sso_config', on_delete=OnDelete.CASCADE)),
                ('enabled', fields.BooleanField(default=True)),
                ('issuer', fields.CharField(max_length=500)),
                ('client_id', fields.CharField(max_length=255)),
                ('client_secret_sealed', fields.TextField(unique=False)),
                ('scopes', fields.CharField(default='openid email profile', max_length=300)),
                ('allowed_domain', fields.CharField(null=True, max_length=253)),
                ('role_claim', fields.CharField(default='groups', max_length=100)),
                ('role_mapping', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('default_roles', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_by_id', fields.IntField(null=True)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'sso_config', 'app': 'riskops', 'pk_attr': 'id', 'table_description': 'OpenID Connect single sign-on of one organization. The client secret is sealed with the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SsoLogin',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('org', fields.ForeignKeyField('riskops.Organization', source_field='org_id', db_constraint=True, to_field='id', related_name='sso_logins', on_delete=OnDelete.CASCADE)),
                ('nonce', fields.CharField(max_length=128)),
                ('code_verifier', fields.CharField(max_length=128)),
                ('browser_hash', fields.CharField(max_length=64)),
                ('next_path', fields.CharField(default='/', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sso_login', 'app': 'riskops', 'pk_attr': 'id', 'table_description': 'One single sign-on attempt in flight: state (its SHA-256 is the id), nonce and PKCE code'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ApiToken',
            name='last_ip',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='ApiToken',
            name='last_user_agent',
            field=fields.CharField(null=True, max_length=300),
        ),
        ops.AddField(
            model_name='User',
            name='password_changed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='User',
            name='sso_subject',
            field=fields.CharField(null=True, unique=True, max_length=400),
        ),
    ]
