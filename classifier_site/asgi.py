"""The ASGI application (served by ``classifier_site.serve``): HTTP through Django, websockets through Channels.

Websocket handshakes must come from an allowed origin (the site's own hosts),
so another site cannot open a socket with a visitor's cookies. Request bodies
are limited per address and in time (``classifier_site.server_limits``), and
chunked ones get a length before Django reads them
(``classifier_site.request_bodies``).

Django's HTTP requests run their middleware and view in one hand-off to the
request's thread (:class:`OneHandOffHandler`) rather than Django's own three,
on a thread kept from an earlier request rather than a new one each time.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")


#: Request threads between two requests (a single-thread executor each); at most this many are kept.
_idle_request_threads: list[ThreadPoolExecutor] = []
IDLE_REQUEST_THREADS_KEPT = 32


class OneHandOffHandler(ASGIHandler):
    """Django under ASGI with its middleware chain run synchronously, as under WSGI, on a reused thread.

    Django gives each request a thread of its own (its sync code may block
    without holding up other requests), and started and joined a new one for
    every request: 0.6-0.9 ms of CPU on this machine, about as much as the
    rest of a small request. Here a request borrows a thread that an earlier,
    finished request used, as a threaded WSGI server reuses its threads
    (Django hands the request's database connection back to the pool when it
    finishes); still one request at a time on each.

    Django's handler also runs the middleware chain in async mode, so every
    sync middleware (ours, WhiteNoise's) handed the request to the thread,
    back to the event loop for the next layer and to the thread again for the
    view. Every view here is synchronous and the body is read before the chain
    starts, so the whole chain runs in the request's thread in one hand-off.
    """

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = (_idle_request_threads.pop() if _idle_request_threads
                    else ThreadPoolExecutor(max_workers=1, thread_name_prefix="request"))
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            if len(_idle_request_threads) < IDLE_REQUEST_THREADS_KEPT:
                _idle_request_threads.append(executor)  # a view still running after a disconnect finishes first
            else:
                executor.shutdown(wait=False)

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


# Django must be set up before anything imports models.
django.setup(set_prefix=False)
django_asgi_app = OneHandOffHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from classification.web.routing import websocket_urlpatterns  # noqa: E402
from classifier_site.request_bodies import LengthForChunkedBodies  # noqa: E402
from classifier_site.server_limits import RequestLimits  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": RequestLimits(LengthForChunkedBodies(django_asgi_app)),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
