"""Pages and the small JSON endpoints behind them. Logic lives in services."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods

from classification import health, metrics, ratelimit, selectors, services
from classification.api.errors import error_body
from classification.models import Classification
from classification.payloads import classification_payload
from classification.validation import upload_limits

HISTORY_PAGE_SIZE = 24


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    accepted: list[Classification] = []
    rejected: list[dict] = []
    status = 200
    if request.method == "POST":
        files = request.FILES.getlist("files")
        ident = ratelimit.client_ident(request.user, request.META.get("REMOTE_ADDR"))
        if not ratelimit.allow("upload", ident, settings.CLASSIFIER["UPLOAD_RATE"], cost=max(1, len(files))):
            result = services.SubmissionResult(rejected=[services.Rejection(
                "", "rate_limited", "Too many uploads; wait a minute and try again.", 429)])
        else:
            result = services.submit_uploads(files, source=Classification.Source.UPLOAD, user=request.user)
        accepted, rejected, status = result.accepted, [r.as_dict() for r in result.rejected], result.status
        if _wants_json(request):
            return JsonResponse(
                {"accepted": [classification_payload(c) for c in accepted], "rejected": rejected}, status=status
            )
    context = {
        "accepted": accepted,
        "rejected": rejected,
        "recent": selectors.classification_history()[:8] if request.method == "GET" else [],
        "limits": upload_limits(),
    }
    return render(request, "classification/upload.html", context, status=status)


@require_GET
def webcam(request: HttpRequest) -> HttpResponse:
    return render(request, "classification/webcam.html", {"limits": upload_limits()})


@require_GET
def status_json(request: HttpRequest) -> JsonResponse:
    try:
        ids = [int(part) for part in request.GET.get("ids", "").split(",") if part.strip()]
    except ValueError:
        return JsonResponse(error_body("invalid", "ids must be comma-separated integers."), status=400)
    rows = selectors.classifications_by_ids(ids)
    return JsonResponse({"classifications": [classification_payload(c) for c in rows]})


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    filters = {key: request.GET.get(key, "") for key in ("label", "source", "status")}
    paginator = Paginator(selectors.classification_history(**filters), HISTORY_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = "&".join(f"{key}={value}" for key, value in filters.items() if value)
    context = {
        "page": page,
        "filters": filters,
        "query": query,
        "labels": selectors.known_labels(),
        "sources": Classification.Source.choices,
        "statuses": Classification.Status.choices,
    }
    return render(request, "classification/history.html", context)


@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    classification = get_object_or_404(Classification.objects.select_related("model_version"), pk=pk)
    probabilities = sorted(classification.probabilities.items(), key=lambda item: item[1], reverse=True)
    return render(
        request,
        "classification/detail.html",
        {"c": classification, "probabilities": probabilities, "payload": classification_payload(classification)},
    )


def _serve(field) -> HttpResponse:
    """Stream a local file, or redirect to a short-lived presigned URL of a private bucket."""
    if not field.name:
        raise Http404("No such file.")
    try:
        field.storage.path(field.name)
    except NotImplementedError:  # remote storage (S3): the browser fetches from the bucket
        return HttpResponseRedirect(field.storage.url(field.name))
    try:
        handle = field.storage.open(field.name, "rb")
    except FileNotFoundError:
        raise Http404("The stored file is missing.")
    return FileResponse(handle)


@require_GET
def image(request: HttpRequest, pk: int) -> HttpResponse:
    classification = get_object_or_404(Classification, pk=pk)
    response = _serve(classification.image)
    if isinstance(response, FileResponse):
        response["Content-Type"] = classification.content_type or "application/octet-stream"
    return response


@require_GET
def thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    classification = get_object_or_404(Classification, pk=pk)
    response = _serve(classification.thumbnail)
    if isinstance(response, FileResponse):
        response["Content-Type"] = "image/jpeg"
    return response


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
