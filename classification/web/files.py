"""Serving stored images and thumbnails to browsers, from local storage or a private bucket.

Only to their owner (:mod:`classification.web.access`); staff see others'
images in the admin, which serves them through :func:`serve_stored` too.
"""

from __future__ import annotations

from uuid import UUID

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET

from classification.models import Classification
from classification.web.access import visible_or_404


def serve_stored(field) -> HttpResponse:
    """Stream a local file, or redirect to a short-lived presigned URL of a private bucket."""
    if not field.name:
        raise Http404("No such file.")
    try:
        field.storage.path(field.name)
    except NotImplementedError:  # remote storage (S3): the browser fetches from the bucket
        response = HttpResponseRedirect(field.storage.url(field.name))
    else:
        try:
            response = FileResponse(field.storage.open(field.name, "rb"))
        except FileNotFoundError:
            raise Http404("The stored file is missing.")
    patch_cache_control(response, private=True)  # someone's photo: never kept by a shared cache
    return response


def image_response(classification: Classification) -> HttpResponse:
    response = serve_stored(classification.image)
    if isinstance(response, FileResponse):
        response["Content-Type"] = classification.content_type or "application/octet-stream"
    return response


def thumbnail_response(classification: Classification) -> HttpResponse:
    """The thumbnail, or the image itself until the worker has made one (it does when it classifies)."""
    if not classification.thumbnail.name:
        return image_response(classification)
    response = serve_stored(classification.thumbnail)
    if isinstance(response, FileResponse):
        response["Content-Type"] = "image/jpeg"
    return response


@require_GET
def image(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return image_response(visible_or_404(request, public_id))


@require_GET
def thumbnail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return thumbnail_response(visible_or_404(request, public_id))
