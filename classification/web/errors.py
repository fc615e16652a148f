"""The site's error answers: pages in its own style, and the API's one JSON error shape under /api/.

Django calls these for errors that no view answered itself (an unknown URL,
a refused CSRF token, a crash): whatever the Accept header, an /api/ path
gets JSON, so scripts never have to parse an HTML page.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from classification.api.errors import error_body

_ANSWERS = {
    400: ("bad_request", "The request could not be understood."),
    403: ("permission_denied", "You are not allowed to do this."),
    404: ("not_found", "There is nothing here."),
    500: ("server_error", "Something went wrong on our side; it has been logged."),
}


def _answer(request: HttpRequest, status: int) -> HttpResponse:
    code, message = _ANSWERS[status]
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code, message), status=status)
    # No request context: the database (or the thing that failed) is not touched again to draw the page.
    body = loader.get_template(f"{status}.html").render({"message": message})
    return HttpResponse(body, status=status)


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    return _answer(request, 400)


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    return _answer(request, 403)


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return _answer(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    return _answer(request, 500)
