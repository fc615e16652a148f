"""Owners, public ids (first of three steps), owners' suggestions and API tokens.

``public_id`` is added nullable here, filled for existing rows by 0010 and
made unique and required by 0011: adding it with a callable default in one
step would give every existing row the same value.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('classification', '0008_sweeper'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='classification',
            name='public_id',
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name='classification',
            name='owner_key',
            field=models.CharField(blank=True, db_index=True, help_text="Anonymous sender's browser-session owner key (classification.privacy.owners); empty for users.", max_length=64),
        ),
        migrations.AddField(
            model_name='classification',
            name='suggested_label',
            field=models.CharField(blank=True, help_text='The label its owner says is right, waiting for a reviewer.', max_length=100),
        ),
        migrations.AddField(
            model_name='classification',
            name='suggested_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='suggestions', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='classification',
            name='suggested_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='classification',
            name='content_hash',
            field=models.CharField(db_index=True, help_text='SHA-256 of the uploaded bytes.', max_length=64),
        ),
        migrations.CreateModel(
            name='ApiToken',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('key_hash', models.CharField(max_length=64, unique=True)),
                ('prefix', models.CharField(help_text='The key\'s first characters, to tell tokens apart.', max_length=12)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('last_used_at', models.DateTimeField(blank=True, null=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'API token',
                'ordering': ['-created_at', '-id'],
            },
        ),
    ]
