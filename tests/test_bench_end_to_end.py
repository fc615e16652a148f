"""The end-to-end benchmark's own parts: its upload client and its saturation rounds."""

from __future__ import annotations

import pytest

from bench import end_to_end
from classification.models import Classification
from tests.conftest import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def test_uploader_sends_the_form_as_a_browser_does_and_keeps_uploading_on_one_client(live_server):
    end_to_end.visitor_cookies.cache_clear()
    uploader = end_to_end.Uploader(live_server.url)

    first, sent, answered = uploader.upload("first.png", image_bytes("PNG"))
    second, *_ = uploader.upload("second.jpg", image_bytes("JPEG", color=(10, 200, 10)))

    rows = {str(row.public_id): row for row in Classification.objects.all()}
    assert set(rows) == {first, second}
    assert (rows[first].original_name, rows[second].original_name) == ("first.png", "second.jpg")
    assert rows[first].owner_key == rows[second].owner_key  # one visitor's session, as the live feed's
    assert sent <= answered


def test_uploader_reports_a_refused_upload_with_the_servers_answer(live_server):
    end_to_end.visitor_cookies.cache_clear()
    uploader = end_to_end.Uploader(live_server.url)

    with pytest.raises(RuntimeError, match="415"):
        uploader.upload("notes.png", b"plain text, not an image")
    assert not Classification.objects.exists()


def test_each_rounds_ratio_is_against_the_model_alone_measured_just_before_and_after_it(monkeypatch):
    """The model alone measures 100, 80, 120, 60 images/s around three rounds of 40, 45 and 45 results/s."""
    floors = iter([100.0, 80.0, 120.0, 60.0])

    class Model:
        def under_load(self, callers, seconds):
            return {"per_s": next(floors), "p50_ms": 1.0, "p95_ms": 2.0}

    rates = iter([40.0, 45.0, 45.0])

    def run_level(url, feed, images, clients, per_client, time_limit):
        rate = next(rates)
        return [{"id": str(n), "sent": n / rate, "answered": n / rate, "started": 0.0, "finished": (n + 1) / rate,
                 "pushed": (n + 1) / rate, "status": "done"} for n in range(int(rate))]

    monkeypatch.setattr(end_to_end, "run_level", run_level)
    monkeypatch.setattr(end_to_end, "CpuMeter", lambda roles: type("Meter", (), {"seconds": lambda self: {"web": 1.0}})())
    inference = {"inference_ms": 1.0, "under_load": {10: {"per_s": 999.0, "p50_ms": 1.0, "p95_ms": 2.0}}}

    level = end_to_end.saturation_level("http://x", None, [], Model(), {}, 10, 4, 60, 3, 1.0, inference)

    assert [round(spell["ratio"], 3) for spell in level["rounds"]] == [round(40 / 90, 3), 0.45, round(45 / 90, 3)]
    assert level["saturation_ratio"] == pytest.approx(0.45)  # the median round
    assert level["model_alone_per_s"] == pytest.approx(100.0)  # that round's: (80 + 120) / 2
    assert (level["saturation_ratio_min"], level["saturation_ratio_max"]) == (pytest.approx(40 / 90), pytest.approx(0.5))
    assert level["requests"] == 130 and level["cpu_ms_per_request"]["web"] == pytest.approx(3000 / 130)
