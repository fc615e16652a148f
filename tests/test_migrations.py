"""Migrations move an existing database forward without losing its rows, and models match them."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

#: The last migration before the app was grouped into rooms: databases deployed then must still migrate.
DEPLOYED_HEAD = ("classification", "0008_sweeper")


def _leaf() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return [key for key in executor.loader.graph.leaf_nodes() if key[0] == "classification"]


@pytest.mark.django_db(transaction=True)
def test_a_database_at_the_deployed_head_migrates_to_the_latest_keeping_its_rows():
    executor = MigrationExecutor(connection)
    executor.migrate([DEPLOYED_HEAD])
    old = executor.loader.project_state([DEPLOYED_HEAD]).apps
    version = old.get_model("classification", "ModelVersion").objects.create(
        name="deployed", architecture="mobilenet_v2", class_names=["a", "b"], input_size=32,
        preprocessing="rescale", artifact="models/x/model.keras", artifact_sha256="0" * 64, is_active=True,
    )
    row = old.get_model("classification", "Classification").objects.create(
        image="images/2026/01/01/a.jpg", status="done", predicted_label="a", confidence=0.9,
        probabilities={"a": 0.9, "b": 0.1}, model_version_id=version.pk, content_hash="1" * 64,
        original_name="kept.jpg", reviewed_label="b",
    )
    second = old.get_model("classification", "Classification").objects.create(
        image="images/2026/01/01/b.jpg", content_hash="2" * 64, original_name="second.jpg",
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(_leaf())

    from classification.models import Classification, ModelVersion

    stored = Classification.objects.get(pk=row.pk)
    assert (stored.original_name, stored.predicted_label, stored.reviewed_label) == ("kept.jpg", "a", "b")
    assert stored.model_version == ModelVersion.objects.get(pk=version.pk, is_active=True)
    # Each existing row got its own public id (added, filled, then made unique).
    public_ids = set(Classification.objects.filter(pk__in=[row.pk, second.pk]).values_list("public_id", flat=True))
    assert len(public_ids) == 2 and None not in public_ids


@pytest.mark.django_db
def test_the_models_need_no_migration_that_is_not_written():
    out = StringIO()
    call_command("makemigrations", "classification", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
