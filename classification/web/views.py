"""Pages and the small JSON endpoint behind them. Logic lives in the services and selectors."""

from __future__ import annotations

import json
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classification.api.errors import error_body
from classification.intake import ratelimit, submission
from classification.intake.validation import upload_limits
from classification.models import Classification
from classification.privacy import deletion
from classification.results import selectors
from classification.review import reviews, suggestions
from classification.serving.payloads import classification_payload, label_name
from classification.web import access, history

WEBCAM_MAX_INTERVAL_S = 600
WEBCAM_RESULTS_KEPT = 12


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    accepted: list[Classification] = []
    rejected: list[dict] = []
    status = 200
    owner = access.owner(request, create=True)  # the page's live socket follows this session's results
    if request.method == "POST":
        files = request.FILES.getlist("files")
        ident = ratelimit.client_ident(request.user, request.META.get("REMOTE_ADDR"))
        if not ratelimit.allow("upload", ident, settings.CLASSIFIER["UPLOAD_RATE"], cost=max(1, len(files))):
            result = submission.SubmissionResult(rejected=[submission.Rejection(
                "", "rate_limited", "Too many uploads; wait a minute and try again.", 429)])
        else:
            result = submission.submit_uploads(
                files, source=Classification.Source.UPLOAD, user=owner.user, owner_key=owner.key
            )
        accepted, rejected, status = result.accepted, [r.as_dict() for r in result.rejected], result.status
        if _wants_json(request):
            return JsonResponse(
                {"accepted": [classification_payload(c) for c in accepted], "rejected": rejected}, status=status
            )
    context = {
        "accepted": accepted,
        "rejected": rejected,
        # Uploads only: frames of cameras and webcams are History's events.
        "recent": access.visible(request).filter(stream="")[:8] if request.method == "GET" else [],
        "limits": upload_limits(),
    }
    return render(request, "classification/upload.html", context, status=status)


@require_GET
def webcam(request: HttpRequest) -> HttpResponse:
    access.owner(request, create=True)  # the socket's frames belong to this session from the first one
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
        ids = [UUID(part.strip()) for part in request.GET.get("ids", "").split(",") if part.strip()]
    except ValueError:
        return JsonResponse(error_body("invalid", "ids must be comma-separated classification ids."), status=400)
    rows = selectors.classifications_by_ids(access.visible(request), ids)
    return JsonResponse({"classifications": [classification_payload(c) for c in rows]})


@require_GET
def detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _detail(request, access.visible_or_404(request, public_id))


@require_GET
def detail_json(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The result as a file to keep: the same JSON the pages and the API use."""
    classification = access.visible_or_404(request, public_id)
    response = HttpResponse(json.dumps(classification_payload(classification), indent=1),
                            content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="classification-{classification.public_id}.json"'
    return response


def _detail(request: HttpRequest, classification: Classification, *, error: str = "", status: int = 200):
    """The result with History's filters kept: previous/next walk the filtered list, "back" returns to it."""
    form, rows = history.filtered(request)
    # Uploads walk among uploads (as History lists them); a camera or webcam frame among its stream's frames.
    newer, older = selectors.neighbours(rows.filter(stream=classification.stream), classification)
    version = classification.model_version
    probabilities = sorted(classification.probabilities.items(), key=lambda item: item[1], reverse=True)
    context = {
        "c": classification, "payload": classification_payload(classification),
        "probabilities": [(label, label_name(label, version), p) for label, p in probabilities],
        "classes": [(label, label_name(label, version)) for label in reviews.known_labels()], "error": error,
        "query": form.query(), "newer": newer, "older": older,
    }
    return render(request, "classification/detail.html", context, status=status)


@require_POST
def correct(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The owner says the label is wrong: their label waits in the staff review queue."""
    classification = access.visible_or_404(request, public_id)
    try:
        suggestions.suggest(classification, label=request.POST.get("label", ""), user=request.user)
    except reviews.ReviewError as exc:
        return _detail(request, classification, error=str(exc), status=400)
    return redirect("classification-detail", public_id=classification.public_id)


@require_POST
def delete(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The owner deletes an upload: the row, the original and the thumbnail."""
    classification = access.visible_or_404(request, public_id)
    try:
        deletion.delete_classification(classification)
    except deletion.DeletionFailed as exc:
        return _detail(request, classification, error=str(exc), status=503)
    return redirect("history")
