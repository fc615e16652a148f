"""Training runs from the admin and the task queue: progress, reports, a new inactive version."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image

from classification.training import execution, runs
from classification.models import ModelVersion, TrainingRun
from tests.conftest import wait_until_finished
from tests.ml.fakes import make_dataset

SETTINGS = {"arch": "basic_cnn", "weights": "none", "epochs": 2, "img_size": 24, "batch_size": 8, "seed": 1}


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "data", classes=("blue", "red", "green"), per_class=10)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("trainer", "t@example.com", "pw")


def _wait_for_run(run_id: int, timeout: float = 120) -> TrainingRun:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = TrainingRun.objects.get(pk=run_id)
        if run.status in (TrainingRun.Status.DONE, TrainingRun.Status.FAILED):
            return run
        time.sleep(0.2)
    raise AssertionError(f"training run {run_id} did not finish: {TrainingRun.objects.get(pk=run_id).status}")


@pytest.mark.django_db(transaction=True)
def test_admin_starts_training_on_the_worker_and_gets_an_inactive_version(
    client, staff, dataset, active_tiny_model, celery_worker
):
    client.force_login(staff)
    form = {
        "data": str(dataset), "arch": "basic_cnn", "weights": "none", "fine_tune": 0, "epochs": 2, "batch_size": 8,
        "learning_rate": 0.001, "img_size": 24, "seed": 1, "val_split": 0.2, "test_split": 0.2,
        "class_balance": "weights",
    }
    response = client.post(reverse("admin:classification_trainingrun_add"), form)
    assert response.status_code == 302, response.content[-3000:]
    [run] = TrainingRun.objects.all()

    run = _wait_for_run(run.pk)

    assert run.status == "done", run.error_message
    assert (run.epochs, run.created_by) == (2, staff)
    assert "epoch 2/2" in run.log and "[evaluating]" in run.log
    version = run.model_version
    assert not version.is_active and ModelVersion.objects.get(is_active=True) == active_tiny_model
    assert version.class_names == ["blue", "green", "red"]
    assert version.input_size == 24 and version.architecture == "basic_cnn"
    assert 0 <= version.metrics["test_accuracy"] <= 1
    for report in ("training_curves.png", "test_confusion.png", "test_confusion_normalised.png",
                   "test_report.json", "test_report.txt", "training_report.json", "validation.npz"):
        assert report in version.report_files, version.report_files
    # The validation split came along (int8 is calibrated and checked on it when the version is compiled).
    from classification.registry import quantizing

    pixels, labels = quantizing.validation_split(version)
    assert len(labels) > 0
    assert pixels.shape[1:] == (24, 24, 3) and set(labels.tolist()) <= {0, 1, 2}

    # The admin shows the reports inline, and serves them to staff only.
    page = client.get(reverse("admin:classification_modelversion_change", args=[version.pk])).content.decode()
    curve_url = reverse("admin:classification_modelversion_report", args=[version.pk, "training_curves.png"])
    assert f'<img src="{curve_url}"' in page
    image = client.get(curve_url)
    assert Image.open(io.BytesIO(b"".join(image.streaming_content))).format == "PNG"
    client.logout()
    assert client.get(curve_url).status_code == 302


@pytest.mark.django_db
def test_progress_is_recorded_for_every_epoch(dataset):
    run = runs.create_run(data=str(dataset), settings=SETTINGS)
    events = []

    run = execution.run_training(run.pk, echo=events.append)

    assert run.status == "done", run.error_message
    assert [e["epoch"] for e in events if e["stage"] == "epoch"] == [1, 2]
    assert all("eta_seconds" in e for e in events if e["stage"] == "epoch")
    assert run.last_metrics.keys() >= {"loss", "accuracy", "val_loss", "val_accuracy"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make_data, message",
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: make_dataset(root / "one", classes=("blue",)), "at least two class sub-folders"),
    ],
    ids=["missing-folder", "single-class"],
)
def test_bad_data_fails_the_run_with_a_clear_message(tmp_path, make_data, message):
    run = runs.create_run(data=str(make_data(tmp_path)), settings=SETTINGS)

    run = execution.run_training(run.pk)

    assert run.status == "failed"
    assert message in run.error_message
    assert run.model_version is None and not ModelVersion.objects.exists()


def test_unknown_settings_are_refused_before_anything_runs():
    with pytest.raises(runs.TrainingError, match="Unknown training settings: colour"):
        runs.training_config("/data", {"colour": "blue"})
    with pytest.raises(runs.TrainingError, match="Unknown architecture"):
        runs.training_config("/data", {"arch": "resnet1000"})


@pytest.mark.django_db
def test_admin_activate_action_switches_the_active_version(client, staff, tiny_bundle, active_tiny_model):
    from classification.registry import versions

    newer = versions.import_bundle(tiny_bundle)
    client.force_login(staff)
    client.post(
        reverse("admin:classification_modelversion_changelist"),
        {"action": "activate_version", "_selected_action": [newer.pk]},
    )
    assert list(ModelVersion.objects.filter(is_active=True)) == [newer]

    response = client.post(
        reverse("admin:classification_modelversion_changelist"),
        {"action": "activate_version", "_selected_action": [newer.pk, active_tiny_model.pk]},
        follow=True,
    )
    assert "exactly one" in response.content.decode()
    assert list(ModelVersion.objects.filter(is_active=True)) == [newer]


@pytest.mark.django_db(transaction=True)
def test_train_from_reviewed_images_compares_with_the_active_model(
    client, staff, active_tiny_model, celery_worker
):
    from classification.models import Classification
    from classification.intake.submission import submit_image
    from classification.review.reviews import review
    from tests.ml.fakes import COLOURS, coloured_square
    import numpy as np

    rng = np.random.default_rng(3)
    for label, colour in (("human", "red"), ("no_human", "blue"), ("uber_eats", "green")):
        for _ in range(8):
            buffer = io.BytesIO()
            coloured_square(COLOURS[colour], 32, rng).save(buffer, format="PNG")
            row = submit_image(data=buffer.getvalue(), original_name=f"{colour}.png")
            wait_until_finished([row.pk])  # the worker classifies it; then it says what the test needs
            Classification.objects.filter(pk=row.pk).update(status="done", predicted_label="human", confidence=0.4)
            review(Classification.objects.get(pk=row.pk), label=label, user=staff)

    client.force_login(staff)
    assert "Train from reviewed images" in client.get(reverse("admin:classification_trainingrun_changelist")).content.decode()
    form = {
        "data": "reviewed", "arch": "basic_cnn", "weights": "none", "fine_tune": 0, "epochs": 2, "batch_size": 8,
        "learning_rate": 0.001, "img_size": 32, "seed": 0, "val_split": 0.2, "test_split": 0.2, "class_balance": "none",
    }
    assert client.post(reverse("admin:classification_trainingrun_add"), form).status_code == 302
    run = _wait_for_run(TrainingRun.objects.get().pk, timeout=180)

    assert run.status == "done", run.error_message
    assert run.comparison["images"] == 6  # 20 % of the 8 reviewed images of each class
    assert run.comparison["active"]["version_id"] == active_tiny_model.pk
    assert run.comparison["active"]["count"] == 6
    assert 0 <= run.comparison["new"]["accuracy"] <= 1
    assert not run.model_version.is_active
    page = client.get(reverse("admin:classification_trainingrun_change", args=[run.pk])).content.decode()
    assert "active: tiny-test-model" in page


@pytest.mark.django_db
def test_training_from_reviews_needs_two_reviewed_classes(client, staff):
    client.force_login(staff)
    form = {
        "data": "reviewed", "arch": "basic_cnn", "weights": "none", "fine_tune": 0, "epochs": 1, "batch_size": 8,
        "learning_rate": 0.001, "img_size": 32, "seed": 0, "val_split": 0.2, "test_split": 0.2, "class_balance": "none",
    }
    response = client.post(reverse("admin:classification_trainingrun_add"), form)
    assert response.status_code == 200
    assert "at least two classes" in response.content.decode()
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_train_command_prints_progress_and_registers_a_version(dataset, capsys):
    from django.core.management import call_command

    call_command(
        "train", "--data", str(dataset), "--arch", "basic_cnn", "--weights", "none", "--epochs", "2",
        "--img-size", "24", "--batch-size", "8", "--activate",
    )

    output = capsys.readouterr()
    assert "epoch 1/2" in output.out + output.err and "ETA" in output.out + output.err
    [version] = ModelVersion.objects.all()
    assert version.is_active and version.architecture == "basic_cnn"
    assert TrainingRun.objects.get().model_version == version


@pytest.mark.django_db
def test_train_command_errors_are_clear(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="does not exist"):
        call_command("train", "--data", str(tmp_path / "missing"), "--arch", "basic_cnn", "--weights", "none")
    with pytest.raises(CommandError, match="Unknown architecture|invalid choice"):
        call_command("train", "--data", str(tmp_path), "--arch", "resnet")
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_imagenet_weights_offline_fail_fast_with_the_file_to_download(dataset):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError) as failure:
        call_command("train", "--data", str(dataset), "--arch", "mobilenet_v2", "--weights", "imagenet", "--epochs", "1")
    message = str(failure.value)
    assert "--weights" in message and ".h5" in message


@pytest.mark.django_db
def test_a_notebook_preset_trains_from_a_zip_of_pre_split_folders_and_records_its_settings(tmp_path, capsys):
    import zipfile

    from django.core.management import call_command

    for seed, (part, count) in enumerate((("train", 8), ("val", 3), ("test", 3))):
        make_dataset(tmp_path / "old" / part, classes=("blue", "red"), per_class=count, size=24, seed=seed)
    archive = tmp_path / "old-project.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted((tmp_path / "old").rglob("*.png")):
            out.write(path, path.relative_to(tmp_path).as_posix())

    call_command("train", "--preset", "notebook_basic_cnn_1", "--data", str(archive), "--epochs", "1",
                 "--img-size", "24")

    [run] = TrainingRun.objects.all()
    assert run.status == TrainingRun.Status.DONE, run.error_message
    assert run.config["preset"] == "notebook_basic_cnn_1"
    assert (run.config["conv_filters"], run.config["dense_units"], run.config["batch_size"]) == ("32,64", "32,16", 32)
    assert (run.config["epochs"], run.config["patience"], run.config["preprocessing"]) == (1, 10, "rescale")
    version = run.model_version
    assert version.class_names == ["blue", "red"] and version.preprocessing == "rescale"
    assert "pre-split folders: train/val/test used as given" in run.log
