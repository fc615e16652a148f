"""Tokens made by DRF's ``drf_create_token`` keep working, now stored only as hashes.

DRF's authtoken app kept each key in plain text. Its rows (when its table
exists) become named API tokens holding the key's SHA-256, and the plain keys
are deleted; the app is no longer installed.
"""

import hashlib

from django.db import migrations
from django.utils import timezone


def hash_drf_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("classification", "ApiToken")
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cursor.fetchall()
        ApiToken.objects.bulk_create(
            ApiToken(
                user_id=user_id, name="made with drf_create_token", key_hash=hashlib.sha256(key.encode()).hexdigest(),
                prefix=key[:8], created_at=created or timezone.now(),
            )
            for key, user_id, created in rows
        )
        cursor.execute("DELETE FROM authtoken_token")


class Migration(migrations.Migration):

    dependencies = [
        ('classification', '0011_public_id_unique'),
    ]

    operations = [
        migrations.RunPython(hash_drf_tokens, migrations.RunPython.noop),
    ]
