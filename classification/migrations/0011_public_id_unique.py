"""Public ids are unique and required from now on (third of three steps)."""

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('classification', '0010_fill_public_id'),
    ]

    operations = [
        migrations.AlterField(
            model_name='classification',
            name='public_id',
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
