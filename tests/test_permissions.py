"""Who may do what: every role against every admin action, the API's write and the staff pages.

Roles: anonymous, a signed-in user, staff with no permission, staff with only
the view permissions, a superuser. Reviews train the next model, so they need
the change permission on classifications; activation needs the change
permission on model versions; exports, statistics and reports need the view
permission. Each refused attempt also changes nothing.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from classification.intake.submission import submit_image
from classification.models import Classification, ModelVersion
from classification.registry import versions
from tests.conftest import image_bytes
from tests.test_api import fresh_throttle_cache, make_version  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "user", "staff_without_permissions", "view_only_staff", "superuser"]
VIEW_PERMISSIONS = ["view_classification", "view_reviewqueueitem", "view_modelversion"]


@pytest.fixture
def world(active_tiny_model):
    """Two finished rows (one with an owner's suggestion, one reviewed), and a second model version with a report."""
    rows = []
    for label in ("human", "no_human"):
        row = submit_image(data=image_bytes(color=(len(rows) * 90, 0, 0)))
        Classification.objects.filter(pk=row.pk).update(
            status="done", predicted_label=label, confidence=0.5, finished_at=timezone.now(),
            probabilities={"human": 0.25, "no_human": 0.25, "uber_eats": 0.25, label: 0.5},
        )
        rows.append(Classification.objects.get(pk=row.pk))
    Classification.objects.filter(pk=rows[0].pk).update(suggested_label="uber_eats", suggested_at=timezone.now())
    Classification.objects.filter(pk=rows[1].pk).update(reviewed_label="no_human", reviewed_at=timezone.now())
    report = default_storage.save("reports/matrix/confusion.png", ContentFile(image_bytes("PNG")))
    spare = make_version("spare", report_files={"confusion.png": report})
    return {"rows": rows, "spare": spare, "active": active_tiny_model}


def _client(role: str, django_user_model) -> Client:
    client = Client()
    if role == "anonymous":
        return client
    user = django_user_model.objects.create_user(
        role, password="pw", is_staff=role != "user", is_superuser=role == "superuser"
    )
    if role == "view_only_staff":
        user.user_permissions.add(*Permission.objects.filter(codename__in=VIEW_PERMISSIONS))
    client.force_login(user)
    return client


def _reviews() -> dict[int, str]:
    return dict(Classification.objects.values_list("pk", "reviewed_label"))


def _action(client, changelist: str, action: str, pks):
    return client.post(reverse(changelist), {"action": action, "_selected_action": list(pks)})


CHANGELIST = "admin:classification_classification_changelist"
QUEUE = "admin:classification_reviewqueueitem_changelist"
VERSIONS = "admin:classification_modelversion_changelist"

#: For each role: may it change labels (reviews), activate models, and see staff data (exports, pages)?
MAY = {
    "anonymous": {"change": False, "activate": False, "view": False},
    "user": {"change": False, "activate": False, "view": False},
    "staff_without_permissions": {"change": False, "activate": False, "view": False},
    "view_only_staff": {"change": False, "activate": False, "view": True},
    "superuser": {"change": True, "activate": True, "view": True},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("changelist, action", [
    (CHANGELIST, "confirm_predictions"),
    (CHANGELIST, "review_as_uber_eats"),
    (CHANGELIST, "accept_suggestions"),
    (QUEUE, "confirm_predictions"),
    (QUEUE, "review_as_human"),
    (QUEUE, "accept_suggestions"),
])
def test_review_actions_need_the_change_permission(world, django_user_model, role, changelist, action):
    client = _client(role, django_user_model)
    before = _reviews()
    suggested = world["rows"][0]

    response = _action(client, changelist, action, [suggested.pk])

    after = _reviews()
    if MAY[role]["change"]:
        assert after[suggested.pk] in ("human", "uber_eats"), response.status_code
    else:
        assert after == before, (role, action)
        assert response.status_code in (302, 403)
        if role in ("anonymous", "user"):
            assert "/login/" in response["Location"]


@pytest.mark.parametrize("role", ROLES)
def test_the_editable_review_column_needs_the_change_permission(world, django_user_model, role):
    client = _client(role, django_user_model)
    row = world["rows"][0]
    form = {
        "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": str(row.pk),
        "form-0-reviewed_label": "uber_eats", "_save": "Save",
    }
    client.post(reverse(CHANGELIST), form)
    assert (_reviews()[row.pk] == "uber_eats") == MAY[role]["change"]


@pytest.mark.parametrize("role", ROLES)
def test_export_needs_the_view_permission(world, django_user_model, role):
    response = _action(_client(role, django_user_model), CHANGELIST, "export_reviewed_dataset",
                       [row.pk for row in world["rows"]])
    exported = response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert exported == MAY[role]["view"]


@pytest.mark.parametrize("role", ROLES)
def test_activation_needs_the_change_permission_on_model_versions(world, django_user_model, role):
    client = _client(role, django_user_model)
    spare = world["spare"]

    _action(client, VERSIONS, "activate_version", [spare.pk])
    by_admin = ModelVersion.objects.get(is_active=True) == spare
    versions.activate(world["active"])  # back to the start for the API's turn

    response = client.post(f"/api/v1/model-versions/{spare.pk}/activate/")
    by_api = ModelVersion.objects.get(is_active=True) == spare

    assert by_admin == by_api == MAY[role]["activate"], (role, response.status_code)
    expected = 200 if MAY[role]["activate"] else 401 if role == "anonymous" else 403
    assert response.status_code == expected
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("role", ROLES)
def test_staff_pages_need_the_view_permission(world, django_user_model, role):
    client = _client(role, django_user_model)
    row, spare = world["rows"][0], world["spare"]
    urls = [
        reverse("admin:classification_statistics"),
        reverse("admin:classification_modelversion_report", args=[spare.pk, "confusion.png"]),
        reverse("admin:classification_classification_image", args=[row.pk]),
        reverse("admin:classification_classification_thumbnail", args=[row.pk]),
        reverse(CHANGELIST),
        reverse(QUEUE),
    ]
    for url in urls:
        status = client.get(url).status_code
        if MAY[role]["view"]:
            assert status == 200, (role, url)
        elif role in ("anonymous", "user"):
            assert status == 302, (role, url)  # to the sign-in page: the admin is for staff
        else:
            assert status == 403, (role, url)
