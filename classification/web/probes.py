"""Health, readiness and metrics endpoints for load balancers, orchestrators and Prometheus."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from classification.ops import health, metrics


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Never touches the database or the broker."""
    return JsonResponse(health.liveness())


@login_not_required
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    ready, checks = health.readiness()
    return JsonResponse({"ready": ready, "checks": checks}, status=200 if ready else 503)


@login_not_required
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)
