"""Every page, as an anonymous visitor, a signed-in user and staff (the admin included), at a phone's
size (390×844) and a laptop's (1366×768) in headless Chromium: no horizontal scrolling, no console
errors, and no serious or critical accessibility violation (axe-core, tests/browser_tools). Each page
is saved as a screenshot (``PAGE_WALK_SCREENSHOTS``, default: the test's temporary folder)."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from classification.events import recording
from classification.intake.submission import submit_image
from classification.models import Camera, Classification, TrainingRun
from tests.conftest import REPO_DIR, SAMPLES_DIR, image_bytes
from tests.test_webcam_browser import chromium, web_server  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TOOLS = REPO_DIR / "tests" / "browser_tools"
AXE = TOOLS / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"phone": (390, 844), "laptop": (1366, 768)}
BLOCKING = ("serious", "critical")
VISITOR_ZONE = "Pacific/Auckland"


def axe_source() -> Path:
    """axe-core as package-lock.json pins it: `scripts/test.sh` installs it; here too when it is missing."""
    if not AXE.is_file():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TOOLS, check=True, capture_output=True)
    return AXE


def picture(label: str, index: int) -> bytes:
    """A shared sample photo of ``label`` when they are there (the README's screenshots), else a plain image."""
    labels = SAMPLES_DIR / "labels.csv"
    if labels.is_file():
        rows = [line.split(",") for line in labels.read_text().split()[1:]]
        return (SAMPLES_DIR / [name for name, of in rows if of == label][0]).read_bytes()
    return image_bytes(size=(640, 480), color=(40 * index, 90, 140))


def make_data(django_user_model, version) -> dict:
    """What the pages show: uploads (sure, uncertain, failed), a camera with an event, a failed training run."""
    user = django_user_model.objects.create_user("walker", password="pw")
    staff = django_user_model.objects.create_superuser("chief", "chief@example.com", "pw")
    now = timezone.now()
    rows = []
    for index, (name, label, confidence) in enumerate([
        ("front-door-with-a-rather-long-file-name-from-a-phone-IMG_20261129_202821.png", "uber_eats", 0.93),
        ("garden.png", "no_human", 0.54), ("hall.png", "human", 0.88),
    ]):
        row = submit_image(data=picture(label, index), original_name=name, user=user)
        others = {n: (1 - confidence) / 2 for n in version.class_names if n != label}
        Classification.objects.filter(pk=row.pk).update(
            status="done", predicted_label=label, confidence=confidence, probabilities={label: confidence, **others},
            model_version=version, created_at=now - timedelta(hours=index * 30), finished_at=now)
        rows.append(row)
    # Enough unreviewed results for a long review queue (its Save button must stay in view).
    template = Classification.objects.get(pk=rows[1].pk)
    Classification.objects.bulk_create([
        Classification(image=template.image.name, thumbnail=template.thumbnail.name, status="done",
                       predicted_label="human", confidence=0.3 + index / 100, model_version=version,
                       probabilities={"human": 0.5, "no_human": 0.25, "uber_eats": 0.25}, submitted_by=user,
                       original_name=f"queue-{index}.png", content_hash=template.content_hash,
                       created_at=now - timedelta(days=2, minutes=index))
        for index in range(30)
    ])
    failed = submit_image(data=image_bytes(), original_name="broken.jpg", user=user)
    Classification.objects.filter(pk=failed.pk).update(status="failed", error_message="The image could not be read.")
    camera = Camera.objects.create(owner=user, name="porch", kind=Camera.Kind.MJPEG, url="http://127.0.0.1:9/s.mjpg")
    for second in range(3):
        frame = submit_image(data=image_bytes(color=(10, 10 * second, 60)), original_name="", user=user)
        Classification.objects.filter(pk=frame.pk).update(
            stream=camera.stream, source="camera", status="done", predicted_label="human", confidence=0.8,
            probabilities={"human": 0.8, "no_human": 0.1, "uber_eats": 0.1}, model_version=version,
            created_at=now - timedelta(minutes=5, seconds=-10 * second), finished_at=now)
        recording.record_results([Classification.objects.get(pk=frame.pk)])
    run = TrainingRun.objects.create(data="/nowhere/photos", status="failed", created_by=staff,
                                     error_message="No such folder: /nowhere/photos")
    return {"user": user, "staff": staff, "rows": rows, "camera": camera, "run": run, "version": version}


def page_list(data) -> dict[str, list[tuple[str, str]]]:
    """Each role's pages as (screenshot name, path)."""
    rows, camera = data["rows"], data["camera"]
    visitor = [("upload", "/"), ("webcam", "/webcam/"), ("history", "/history/"), ("login", "/account/login/"),
               ("api-docs", "/api/docs/"), ("not-found", "/no-such-page/")]
    user = [
        ("upload", "/"), ("webcam", "/webcam/"), ("history", "/history/"), ("history-search", "/history/?q=garden"),
        ("history-nothing", "/history/?min_confidence=99"),
        ("result", f"/classifications/{rows[0].public_id}/"),
        ("result-uncertain", f"/classifications/{rows[1].public_id}/?q=g"),
        ("cameras", "/cameras/"), ("camera-timeline", f"/cameras/{camera.public_id}/"), ("tokens", "/account/tokens/"),
    ]
    staff = [("admin", "/admin/"), ("statistics", reverse("admin:classification_statistics")),
             ("experiments", reverse("admin:classification_trainingrun_experiments")),
             ("training-add", reverse("admin:classification_trainingrun_add")),
             ("training-run", reverse("admin:classification_trainingrun_change", args=[data["run"].pk])),
             ("model-version", reverse("admin:classification_modelversion_change", args=[data["version"].pk])),
             ("classification", reverse("admin:classification_classification_change", args=[rows[1].pk])),
             ("camera", reverse("admin:classification_camera_change", args=[camera.pk]))]
    for model in admin.site._registry:
        name = f"{model._meta.app_label}-{model._meta.model_name}-list"
        staff.append((name, reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")))
    return {"visitor": visitor, "user": user, "staff": staff}


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    pages: int = 0
    checks: list[str] = field(default_factory=list)
    times: list[list[str]] = field(default_factory=list)

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    @classmethod
    def merged(cls, parts) -> Findings:
        whole = cls()
        for part in parts:
            whole.problems += part.problems
            whole.pages += part.pages
            whole.checks += part.checks
            whole.times += part.times
        return whole


def walk(browser, base_url: str, who: str, size: str, paths: list[tuple[str, str]], session: str | None,
         shots: Path, found: Findings, keep: bool):
    width, height = SIZES[size]
    # Far from the server's UTC, so times shown in the visitor's zone are told apart from the server's.
    context = browser.new_context(viewport={"width": width, "height": height}, timezone_id=VISITOR_ZONE)
    context.add_init_script(path=str(axe_source()))
    if session:
        context.add_cookies([{"name": "sessionid", "value": session, "url": base_url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(
        f"{message.text} ({message.location.get('url', '')})"))
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    for name, path in paths:
        errors.clear()
        where = f"{who} {size} {path}"
        response = page.goto(base_url + path, wait_until="load")
        page.wait_for_timeout(100)  # live sockets connect, scripts draw
        expected = 404 if name == "not-found" else 200
        if response.status != expected:
            found.add(where, f"answered {response.status}, not {expected}")
        own_status = f"status of {response.status}" if response.status == expected == 404 else None
        for error in errors:  # the 404 page's own status is not an error of the page
            if not (own_status and own_status in error and base_url + path in error):
                found.add(where, f"console: {error}")
        overflow = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        if overflow[0] > overflow[1]:
            wide = page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                .slice(0, 3).map(e => e.tagName + '.' + e.className + '#' + e.id)""")
            found.add(where, f"scrolls sideways: {overflow[0]} px wide in {overflow[1]} ({wide})")
        if who == "user" and path == "/history/":
            found.times = page.eval_on_selector_all(
                "#results time[data-when]", "items => items.map(i => [i.getAttribute('datetime'), i.textContent])")
        if "reviewqueueitem" in path:  # the queue's actions and Save, reachable without scrolling
            reach = page.evaluate("""() => [document.querySelector('#changelist-form input[name=_save]')
                .getBoundingClientRect().bottom, document.querySelector('select[name=action]')
                .getBoundingClientRect().bottom, window.innerHeight]""")
            if max(reach[:2]) > reach[2]:
                found.add(where, f"review actions out of view: {reach}")
            found.checks.append(where)
        violations = page.evaluate("""async (blocking) => (await axe.run(document, {resultTypes: ['violations']}))
            .violations.filter(v => blocking.includes(v.impact))
            .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))""",
            list(BLOCKING))
        for violation in violations:
            found.add(where, f"axe {violation}")
        # Whole pages when someone keeps them (PAGE_WALK_SCREENSHOTS), else the screen: quicker.
        page.screenshot(path=str(shots / f"{who}-{size}-{name}.png"), full_page=keep)
        found.pages += 1
    context.close()


def test_every_page_fits_phones_and_laptops_without_errors_or_accessibility_violations(
    active_tiny_model, web_server, django_user_model, tmp_path  # noqa: F811
):
    data = make_data(django_user_model, active_tiny_model)
    paths = page_list(data)
    sessions = {"visitor": None}
    for who in ("user", "staff"):
        signed_in = Client()  # one each: signing out would end the session
        signed_in.force_login(data[who])
        sessions[who] = signed_in.cookies["sessionid"].value
    shots = Path(os.environ.get("PAGE_WALK_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    keep = bool(os.environ.get("PAGE_WALK_SCREENSHOTS"))
    axe_source()  # installed here, if need be, before two walks would each install it

    def walk_at(size: str) -> Findings:
        found = Findings()
        with chromium() as browser:
            for who, who_paths in paths.items():
                walk(browser, web_server, who, size, who_paths, sessions[who], shots, found, keep)
        return found

    # Each size in a thread and a browser of its own (Playwright's sync API keeps to its thread): the two
    # walks share the machine's cores instead of taking turns on one.
    with ThreadPoolExecutor(len(SIZES)) as pool:
        found = Findings.merged(pool.map(walk_at, SIZES))
    assert found.pages == 2 * sum(len(p) for p in paths.values())
    assert len(found.checks) == 2  # the review queue at both sizes
    # Times in the visitor's zone: relative when recent, else day, month, year and time there.
    shown = {datetime.fromisoformat(at): text for at, text in found.times}
    recent = [text for at, text in shown.items() if timezone.now() - at < timedelta(hours=1)]
    older = {at: text for at, text in shown.items() if timezone.now() - at > timedelta(days=1)}
    assert recent and all(text == "just now" or text.endswith("minutes ago") for text in recent), shown
    assert older, shown
    for at, text in older.items():
        assert text == at.astimezone(ZoneInfo(VISITOR_ZONE)).strftime("%-d %b %Y, %H:%M"), (text, at)
    assert not found.problems, f"{len(found.problems)} problems:\n" + "\n".join(found.problems)
