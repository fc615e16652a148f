"""S3 for real: a moto server on 127.0.0.1 speaks the S3 HTTP API; nothing is mocked in-process."""

from __future__ import annotations

import socket

import boto3
import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from classification.registry import artifacts, versions
from classification.training import execution, runs
from classification.models import Classification, ModelVersion
from classifier_site.storage import s3_storage
from ml import s3sync
from tests.conftest import image_bytes, solo_worker, wait_until_finished
from tests.ml.fakes import make_dataset

BUCKET = "classifier-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, settings, monkeypatch):
    """Django storage switched to a fresh private bucket, as the S3 settings would do it."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_S3_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings.AWS_S3_ENDPOINT_URL = s3_endpoint
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(BUCKET, endpoint_url=s3_endpoint, region_name="us-east-1", url_expire_seconds=120),
    }
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _keys(client, prefix: str = "") -> set[str]:
    return {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])}


@pytest.mark.django_db(transaction=True)
def test_upload_lands_in_the_bucket_and_is_classified_from_it(client, s3, tiny_bundle):
    # The model is imported into S3 too, and the worker loads it from there.
    version = versions.import_bundle(tiny_bundle, activate_now=True)
    assert version.artifact.name in _keys(s3, "models/")

    data = image_bytes("PNG", size=(90, 70), color=(10, 200, 30))
    with solo_worker():
        response = client.post(
            reverse("upload"), {"files": [SimpleUploadedFile("s3.png", data, "image/png")]}, HTTP_ACCEPT="application/json"
        )
        [row] = wait_until_finished([response.json()["accepted"][0]["id"]])

    assert row.status == "done" and row.model_version_id == version.pk
    assert {row.image.name, row.thumbnail.name} <= _keys(s3, "images/") | _keys(s3, "thumbnails/")
    assert s3.get_object(Bucket=BUCKET, Key=row.image.name)["Body"].read() == data

    # Pages link to the app's image URL, which redirects to a short-lived presigned URL.
    redirect = client.get(reverse("classification-image", args=[row.public_id]))
    assert redirect.status_code == 302
    presigned = redirect["Location"]
    assert "X-Amz-Signature=" in presigned and "X-Amz-Expires=120" in presigned
    assert requests.get(presigned, timeout=10).content == data
    unsigned = presigned.split("?")[0]
    assert requests.get(unsigned, timeout=10).status_code == 403  # the bucket itself stays private


@pytest.mark.django_db
def test_model_cache_downloads_an_unchanged_model_once(s3, tiny_bundle, settings, tmp_path):
    settings.CLASSIFIER = {**settings.CLASSIFIER, "MODEL_CACHE_DIR": tmp_path / "cache"}
    version = versions.import_bundle(tiny_bundle, activate_now=True)

    first = artifacts.local_model_path(version)
    s3.delete_object(Bucket=BUCKET, Key=version.artifact.name)  # a second download would now fail
    second = artifacts.local_model_path(version)

    assert first == second and first.is_file()
    assert first.parent.name == version.artifact_sha256


@pytest.mark.django_db
def test_bundles_and_reports_from_training_on_an_s3_prefix_go_to_s3(s3, tmp_path):
    local = make_dataset(tmp_path / "data", classes=("blue", "red"), per_class=8)
    assert s3sync.upload_folder(local, f"s3://{BUCKET}/datasets/colours/", client=s3) == 16

    run = runs.create_run(
        data=f"s3://{BUCKET}/datasets/colours",
        settings={"arch": "basic_cnn", "weights": "none", "epochs": 1, "img_size": 24, "batch_size": 8},
    )
    run = execution.run_training(run.pk)

    assert run.status == "done", run.error_message
    assert "[syncing] s3 sync" in run.log
    version = run.model_version
    assert version.class_names == ["blue", "red"]
    stored = _keys(s3, "models/")
    assert version.artifact.name in stored
    assert set(version.report_files.values()) <= stored and "training_curves.png" in version.report_files


@pytest.mark.django_db
def test_training_reads_a_zip_of_pre_split_folders_from_s3_once(s3, tmp_path):
    import zipfile

    for seed, (part, count) in enumerate((("train", 6), ("val", 2), ("test", 2))):
        make_dataset(tmp_path / "old" / part, classes=("blue", "red"), per_class=count, seed=seed)
    archive = tmp_path / "old.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted((tmp_path / "old").rglob("*.png")):
            out.write(path, path.relative_to(tmp_path / "old").as_posix())
    s3.upload_file(str(archive), BUCKET, "datasets/old-project.zip")
    settings = {"arch": "basic_cnn", "weights": "none", "epochs": 1, "img_size": 24, "batch_size": 8}

    first = execution.run_training(runs.create_run(data=f"s3://{BUCKET}/datasets/old-project.zip",
                                                   settings=settings).pk)
    second = execution.run_training(runs.create_run(data=f"s3://{BUCKET}/datasets/old-project.zip",
                                                    settings=settings).pk)

    assert (first.status, second.status) == ("done", "done"), first.error_message + second.error_message
    assert "[syncing] s3 download" in first.log and "s3 download" not in second.log  # cached by ETag
    assert "used as given" in first.log and first.model_version.class_names == ["blue", "red"]


def test_second_sync_downloads_only_what_changed(s3, tmp_path):
    local = make_dataset(tmp_path / "data", classes=("blue", "red"), per_class=3)
    s3sync.upload_folder(local, f"s3://{BUCKET}/sync/", client=s3)
    lines = []

    first = s3sync.sync_prefix(f"s3://{BUCKET}/sync", tmp_path / "cache", client=s3, progress=lines.append)
    s3.put_object(Bucket=BUCKET, Key="sync/red/red_000.png", Body=image_bytes("PNG"))
    s3.delete_object(Bucket=BUCKET, Key="sync/blue/blue_002.png")
    second = s3sync.sync_prefix(f"s3://{BUCKET}/sync", tmp_path / "cache", client=s3, progress=lines.append)
    third = s3sync.sync_prefix(f"s3://{BUCKET}/sync", tmp_path / "cache", client=s3, progress=lines.append)

    assert (first.downloaded, first.unchanged) == (6, 0)
    assert (second.downloaded, second.unchanged, second.removed) == (1, 4, 1)
    assert (third.downloaded, third.unchanged, third.removed) == (0, 5, 0)
    assert (second.directory / "red" / "red_000.png").read_bytes() == image_bytes("PNG")
    assert not (second.directory / "blue" / "blue_002.png").exists()
    assert any("6 to download" in line for line in lines) and any("6/6 objects" in line for line in lines)


def test_sync_errors_are_clear(s3, tmp_path):
    with pytest.raises(s3sync.S3SyncError, match="holds no objects"):
        s3sync.sync_prefix(f"s3://{BUCKET}/nothing-here", tmp_path, client=s3)
    with pytest.raises(s3sync.S3SyncError, match="not an s3://bucket/prefix"):
        s3sync.parse_s3_uri("s3:/oops")
    s3.put_object(Bucket=BUCKET, Key="evil/../../escape.png", Body=b"x")
    with pytest.raises(s3sync.S3SyncError, match="would leave the dataset folder"):
        s3sync.sync_prefix(f"s3://{BUCKET}/evil", tmp_path / "cache", client=s3)
    assert not (tmp_path / "escape.png").exists()


@pytest.mark.django_db
def test_unreachable_s3_answers_503_and_leaves_nothing_behind(client, settings, active_tiny_model, monkeypatch):
    dead = f"http://127.0.0.1:{_free_port()}"  # nothing listens here
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(BUCKET, endpoint_url=dead, region_name="us-east-1", connect_timeout=1, max_attempts=1),
    }

    response = client.post(
        reverse("upload"), {"files": [SimpleUploadedFile("a.jpg", image_bytes(), "image/jpeg")]},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 503
    assert "could not be stored" in response.json()["rejected"][0]["message"]
    assert not Classification.objects.exists()
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_reviewed_images_export_to_an_s3_prefix(s3, active_tiny_model, django_user_model, capsys):
    from django.core.management import CommandError, call_command

    from classification.intake.submission import submit_image
    from classification.review.reviews import review

    with pytest.raises(CommandError, match="No reviewed images"):
        call_command("export_reviewed", f"s3://{BUCKET}/exports/reviewed")
    user = django_user_model.objects.create_user("r")
    rows = []
    for label in ("human", "uber_eats"):
        row = submit_image(data=image_bytes(), original_name=f"{label}.jpg")
        Classification.objects.filter(pk=row.pk).update(status="done", predicted_label="human", confidence=0.9)
        rows.append(review(Classification.objects.get(pk=row.pk), label=label, user=user))

    call_command("export_reviewed", f"s3://{BUCKET}/exports/reviewed")

    assert _keys(s3, "exports/") == {f"exports/reviewed/human/{rows[0].pk}.jpg", f"exports/reviewed/uber_eats/{rows[1].pk}.jpg"}
    assert "Exported 2 reviewed image(s)" in capsys.readouterr().out
