"""Request middleware: debug mode for this machine only, NUL-free URLs, sign-in for private deployments,
and request timing for metrics."""

from __future__ import annotations

import ipaddress
import time

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.core.exceptions import BadRequest, MiddlewareNotUsed, PermissionDenied
from django.http import HttpResponse

from classification.ops import metrics


def _loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").split("%")[0]).is_loopback
    except ValueError:
        return False


class DebugOnlyForLoopback:
    """While DEBUG is on, answer only clients on this machine: a debug page shows settings and paths.

    Not installed at all when DEBUG is off (the default). ``scripts/run.sh``
    also refuses to start with DEBUG on a non-local address; this covers any
    other way of serving it.
    """

    def __init__(self, get_response):
        if not settings.DEBUG:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request) -> HttpResponse:
        if not _loopback(request.META.get("REMOTE_ADDR")):
            raise PermissionDenied("This server runs in debug mode and answers only its own machine.")
        return self.get_response(request)


class RefuseNulCharacters:
    """A NUL character in the query string is a 400 here, not a database error later.

    PostgreSQL text cannot hold NUL, so a filter value carrying one (a page's,
    an admin changelist's) would fail deep in a query as a 500; the site's
    400 page answers instead. The API is left to validate its own parameters,
    which names the field at fault.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            return self.get_response(request)
        if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()):
            raise BadRequest("NUL characters are not allowed in the query string.")
        return self.get_response(request)


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's sign-in requirement for pages and images, but not for the API.

    The API authenticates tokens itself (DRF), so a token client must not be
    redirected to a login page; its permission class applies the same rule.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class RequestTimingMiddleware:
    """Records each request's latency, labelled by its view name, never its raw path (ids)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.view_name or match.route) if match else "unmatched"
        metrics.observe_request(request.method, route, response.status_code, time.perf_counter() - started)
        return response
