"""Give every existing classification its own public id (second of three steps)."""

import uuid

from django.db import migrations


def fill_public_ids(apps, schema_editor):
    Classification = apps.get_model("classification", "Classification")
    rows = Classification.objects.filter(public_id__isnull=True).only("pk")
    batch = []
    for row in rows.iterator(chunk_size=2000):
        row.public_id = uuid.uuid4()
        batch.append(row)
        if len(batch) >= 2000:
            Classification.objects.bulk_update(batch, ["public_id"])
            batch = []
    Classification.objects.bulk_update(batch, ["public_id"])


class Migration(migrations.Migration):

    dependencies = [
        ('classification', '0009_ownership'),
    ]

    operations = [
        migrations.RunPython(fill_public_ids, migrations.RunPython.noop),
    ]
