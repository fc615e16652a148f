"""OpenAPI pieces shared by the API views: the documented error responses."""

from __future__ import annotations

import threading

from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView

from classification.api.serializers import ErrorSerializer

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `fields` names each bad parameter or field. For uploads also a missing file, "
    "an empty, unreadable or corrupt image, or too many files.",
    401: "No credentials (where required), or invalid ones: send `Authorization: Token <key>` or a session cookie.",
    403: "Signed in but not allowed (e.g. not staff), or a session request without its CSRF token.",
    404: "No such object, or a page number past the last page.",
    413: "A file over `CLASSIFIER_MAX_UPLOAD_BYTES`, an image over `CLASSIFIER_MAX_IMAGE_PIXELS`, "
    "or a request body too large to read.",
    415: "Not an image this service reads (JPEG, PNG, GIF, WebP, BMP, TIFF), or a body that is not multipart.",
    409: "The model version's stored artifact is damaged, or (SageMaker backend) its class names are not the "
         "endpoint's; it was not activated and the active model is unchanged.",
    429: "Too many requests; `Retry-After` says how many seconds to wait.",
    503: "Storage or queue unavailable; try again later.",
}

def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses in the one error shape, for ``extend_schema(responses=...)``."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status]) for status in statuses
    }


class BrowsableSchemaView(SpectacularAPIView):
    """The OpenAPI schema. A browser asking for a page gets it as text to read in the tab, not a download;
    clients (Swagger UI, generators, ``?format=json``) get the usual OpenAPI media types."""

    #: drf-spectacular builds a schema with process-wide state that is not thread-safe (extensions imported
    #: on first use, shared registries): two first requests at once answered 500 (the page walk's two
    #: browsers found it). Rare and a fraction of a second each, so one at a time.
    _building = threading.Lock()

    @extend_schema(**SCHEMA_KWARGS)  # as the view it wraps: the schema does not list its own endpoint
    def get(self, request, *args, **kwargs):
        with self._building:
            return super().get(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        browser = "text/html" in request.headers.get("Accept", "") and not request.GET.get("format")
        if browser and response.status_code == 200:
            response.render()
            response["Content-Type"] = "text/plain; charset=utf-8"
            response["Content-Disposition"] = 'inline; filename="schema.yaml"'
        return response
