"""The README's run command: starts everything, classifies, and Ctrl-C stops it all."""

from __future__ import annotations

import pytest

from tests.conftest import self_signed_certificate
from tests.running_service import start_service

pytestmark = pytest.mark.slow


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize(
    "redis_url, https", [("redis://127.0.0.1:6379/12", True), ("", False)], ids=["redis-https", "no-redis-fallback-http"]
)
def test_run_command_serves_classifies_and_stops_on_ctrl_c(tmp_path, tiny_bundle, redis_url, https):
    tls = self_signed_certificate(tmp_path) if https else {}
    service = start_service(tmp_path, tiny_bundle, redis_url, **tls)
    assert service.base_url.startswith("https://" if https else "http://")
    try:
        session = service.session()
        [result] = service.wait_finished(session, [service.upload(session)])
    finally:
        service.stop_with_ctrl_c()
    assert result["status"] == "done", service.log[-3000:]
    assert result["predicted_label"] in ("human", "no_human", "uber_eats")
    assert "Imported and activated" in service.log
    assert "Loaded model tiny-test-model" in service.log
