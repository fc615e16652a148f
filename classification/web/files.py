"""Serving stored images and thumbnails to browsers, from local storage or a private bucket."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from classification.models import Classification


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
