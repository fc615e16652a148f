"""Request middleware: sign-in for private deployments, and request timing for metrics."""

from __future__ import annotations

import time

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware

from classification.ops import metrics


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
