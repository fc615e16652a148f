"""The experiments page: finished runs side by side, sortable, and activating one from there."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from classification.models import ModelVersion, TrainingRun
from classification.registry import versions

pytestmark = pytest.mark.django_db


def finished_run(bundle, *, preset: str, test_accuracy: float, ece: float, minutes: int) -> TrainingRun:
    version = versions.import_bundle(bundle)
    version.metrics = {"test_accuracy": test_accuracy, "val_accuracy": 0.9, "test_ece": ece,
                       "test_recall": {"human": 0.97, "no_human": 0.91}}
    version.report_files = {"training_curves.png": "reports/curves.png", "test_reliability.png": "reports/rel.png"}
    version.save()
    started = timezone.now() - timedelta(minutes=minutes)
    return TrainingRun.objects.create(
        data="/data/old-project.zip", config={"preset": preset, "arch": "basic_cnn", "epochs": 100},
        status=TrainingRun.Status.DONE, model_version=version, started_at=started, finished_at=timezone.now(),
    )


@pytest.fixture
def runs(tiny_bundle):
    return [
        finished_run(tiny_bundle, preset="notebook_basic_cnn_1", test_accuracy=0.81, ece=0.02, minutes=3),
        finished_run(tiny_bundle, preset="notebook_vgg16", test_accuracy=0.93, ece=0.09, minutes=40),
    ]


def staff_with(django_user_model, *codenames):
    user = django_user_model.objects.create_user("staffer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def shown_runs(response) -> list[int]:
    return [int(run) for run in re.findall(r'class="experiment" data-run="(\d+)"', response.content.decode())]


def test_runs_are_side_by_side_best_test_accuracy_first_and_sortable(client, django_user_model, runs):
    client.force_login(staff_with(django_user_model, "view_trainingrun"))
    url = reverse("admin:classification_trainingrun_experiments")
    page = client.get(url)
    assert page.status_code == 200
    assert shown_runs(page) == [runs[1].pk, runs[0].pk]
    body = page.content.decode()
    assert "preset=notebook_vgg16" in body and "epochs=100" in body and "/data/old-project.zip" in body
    assert "recall human" in body and "0.97" in body and "2400 s" in body
    for image in ("training_curves.png", "test_reliability.png"):
        assert reverse("admin:classification_modelversion_report", args=[runs[0].model_version.pk, image]) in body
    assert shown_runs(client.get(url, {"sort": "test_ece", "order": "asc"})) == [runs[0].pk, runs[1].pk]
    assert shown_runs(client.get(url, {"sort": "duration", "order": "desc"})) == [runs[1].pk, runs[0].pk]
    assert ">Activate<" not in body  # no permission to change model versions


def test_activating_from_the_page_needs_the_change_permission(client, django_user_model, runs):
    url = reverse("admin:classification_trainingrun_activate", args=[runs[0].pk])
    user = staff_with(django_user_model, "view_trainingrun")
    client.force_login(user)
    assert client.post(url).status_code == 403
    assert not ModelVersion.objects.filter(is_active=True).exists()

    user.user_permissions.add(Permission.objects.get(codename="change_modelversion"))
    client.force_login(user)
    assert ">Activate<" in client.get(reverse("admin:classification_trainingrun_experiments")).content.decode()
    response = client.post(url)
    assert response.status_code == 302
    assert ModelVersion.objects.get(is_active=True) == runs[0].model_version


def test_staff_without_the_view_permission_are_refused(client, django_user_model, runs):
    client.force_login(staff_with(django_user_model))
    assert client.get(reverse("admin:classification_trainingrun_experiments")).status_code == 403
