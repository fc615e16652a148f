"""API upload → real Celery worker → finished result, and the README's API examples against a live server."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classification.accounts import tokens
from classification.models import Classification, ModelVersion
from tests.conftest import REPO_DIR, image_bytes, wait_until_finished
from tests.test_api import LIST, api, fresh_throttle_cache, token_client, user  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_wait_returns_the_finished_result(api, active_tiny_model, celery_worker):  # noqa: F811
    response = api.post(
        f"{LIST}?wait=20", {"files": [SimpleUploadedFile("red.jpg", image_bytes(), "image/jpeg")]}, format="multipart"
    )

    assert response.status_code == 200, response.content
    [item] = response.json()["accepted"]
    assert item["status"] == "done", item["error_message"]
    assert item["predicted_label"] in active_tiny_model.class_names
    assert set(item["probabilities"]) == set(active_tiny_model.class_names)
    assert item["confidence"] == max(item["probabilities"].values())
    assert item["model_version"] == {"id": active_tiny_model.pk, "name": active_tiny_model.name}
    assert item["finished_at"] is not None
    assert api.get(item["status_url"]).json() == item


def test_without_wait_the_status_url_shows_progress(api, active_tiny_model, celery_worker):  # noqa: F811
    files = [SimpleUploadedFile(f"{i}.png", image_bytes("PNG", color=(i * 50, 0, 0)), "image/png") for i in range(3)]
    response = api.post(LIST, {"files": files}, format="multipart")

    assert response.status_code == 202
    accepted = response.json()["accepted"]
    assert {item["status"] for item in accepted} <= {"queued", "running", "done"}
    wait_until_finished([item["id"] for item in accepted])
    finished = [api.get(item["status_url"]).json() for item in accepted]
    assert [item["status"] for item in finished] == ["done"] * 3
    assert api.get(LIST, {"status": "done", "source": "api"}).json()["count"] == 3


# --- the README's examples ----------------------------------------------------------

README_HOST = "http://127.0.0.1:8000"


def readme_api_blocks() -> dict[str, list[str]]:
    """The fenced code blocks of the README's "## REST API" section, by language."""
    readme = (REPO_DIR / "README.md").read_text()
    section = readme.split("\n## REST API\n", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for language, code in re.findall(r"```(\w*)\n(.*?)```", section, re.DOTALL):
        blocks.setdefault(language, []).append(code)
    return blocks


@pytest.fixture
def readme_env(tmp_path, live_server, active_tiny_model, celery_worker, django_user_model, monkeypatch):
    """A live server with a worker, a staff user's token, the example files, and a row and version to name."""
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("readme", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_modelversion"))
    token = tokens.create_token(staff, "readme")[1]
    (tmp_path / "photo.jpg").write_bytes(image_bytes())
    (tmp_path / "scan.png").write_bytes(image_bytes("PNG", color=(10, 200, 10)))
    response = token_client(staff).post(
        LIST, {"files": [SimpleUploadedFile("first.jpg", image_bytes(), "image/jpeg")]}, format="multipart"
    )
    row_id = response.json()["accepted"][0]["id"]
    spare = ModelVersion.objects.create(
        **{field: getattr(active_tiny_model, field) for field in ("architecture", "class_names", "input_size",
                                                                  "preprocessing", "artifact", "artifact_sha256")},
        name="spare",
    )
    monkeypatch.chdir(tmp_path)

    def localize(code: str) -> str:
        assert README_HOST in code and "your-token" in code
        code = code.replace(README_HOST, live_server.url).replace("your-token", token)
        code = code.replace("/classifications/0b4e7c1e-6f1d-4a43-9a55-3c1e2b8d7f42/", f"/classifications/{row_id}/")
        return code.replace("/model-versions/3/", f"/model-versions/{spare.pk}/")

    return {"localize": localize, "cwd": tmp_path, "spare": spare, "row_id": row_id}


def test_readme_curl_examples_work(readme_env):
    [script] = readme_api_blocks()["sh"]
    script = readme_env["localize"](script)
    assert "/classifications/0b4e7c1e-6f1d-4a43-9a55-3c1e2b8d7f42/" not in script and "/model-versions/3/" not in script

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        check=False,
        cwd=readme_env["cwd"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr  # --fail-with-body: any 4xx/5xx fails
    out = result.stdout
    assert out.startswith('{"accepted":[{"id":') and '"status":"done"' in out  # ?wait=10 waited
    assert '"original_name":"scan.png"' in out
    assert f'"id":"{readme_env["row_id"]}",' in out
    assert '"count":' in out and '"results":[' in out
    assert ModelVersion.objects.get(is_active=True) == readme_env["spare"]
    assert Classification.objects.filter(source="api").count() == 4


def test_readme_python_example_works(readme_env):
    [code] = readme_api_blocks()["python"]
    output = io.StringIO()
    started = time.monotonic()
    program = compile(readme_env["localize"](code), "README.md (REST API)", "exec")
    with contextlib.redirect_stdout(output):
        exec(program, {"__name__": "readme"})  # noqa: S102  (the README's own example)

    lines = output.getvalue().splitlines()
    assert time.monotonic() - started < 60
    assert [line.split()[:2] for line in lines[:2]] == [["photo.jpg", "done"], ["scan.png", "done"]], lines
    assert lines[2].startswith("400 invalid {'min_confidence': ["), lines
    assert Classification.objects.filter(status="done", original_name__in=["photo.jpg", "scan.png"]).count() == 2


def test_readme_json_error_example_is_the_real_shape(api):  # noqa: F811
    [example] = readme_api_blocks()["json"]
    import json

    documented = json.loads(example)
    actual = api.get(LIST, {"min_confidence": 2}).json()
    assert actual == documented
