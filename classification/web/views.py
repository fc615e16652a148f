"""Pages and the small JSON endpoint behind them. Logic lives in the services and selectors."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods

from classification.api.errors import error_body
from classification.events.selectors import HistoryEntries
from classification.intake import ratelimit, submission
from classification.intake.validation import upload_limits
from classification.models import Classification
from classification.results import selectors
from classification.serving.payloads import classification_payload

HISTORY_PAGE_SIZE = 24
WEBCAM_MAX_INTERVAL_S = 600
WEBCAM_RESULTS_KEPT = 12


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
            result = submission.SubmissionResult(rejected=[submission.Rejection(
                "", "rate_limited", "Too many uploads; wait a minute and try again.", 429)])
        else:
            result = submission.submit_uploads(files, source=Classification.Source.UPLOAD, user=request.user)
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
    interval = {  # what the page lets people choose: never faster than the server accepts frames
        "min": ratelimit.min_interval_seconds(settings.CLASSIFIER["WEBCAM_FRAME_RATE"]),
        "max": WEBCAM_MAX_INTERVAL_S,
        "keep": WEBCAM_RESULTS_KEPT,
    }
    interval["default"] = max(interval["min"], 10)
    return render(request, "classification/webcam.html", {"limits": upload_limits(), "interval": interval})


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
    # Uploads one by one; frames of cameras and webcams as their events (not a flood of frames).
    paginator = Paginator(HistoryEntries(**filters), HISTORY_PAGE_SIZE)
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
