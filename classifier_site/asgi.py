"""ASGI entry point for daphne: HTTP through Django, websockets through Channels.

Websocket handshakes must come from an allowed origin (the site's own hosts),
so another site cannot open a socket with a visitor's cookies. The server's
own limits follow the settings (``classifier_site.server_limits``), and
chunked request bodies get a length before Django reads them
(``classifier_site.request_bodies``).

Django's HTTP requests run their middleware and view in one hand-off to the
request's thread (:class:`OneHandOffHandler`) rather than Django's own three.
"""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

from classifier_site.daphne_requests import stop_twisted_form_parsing

stop_twisted_form_parsing()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")


class OneHandOffHandler(ASGIHandler):
    """Django under ASGI with its middleware chain run synchronously, as under WSGI, in one hand-off.

    Django's ASGI handler runs the middleware chain in async mode: every sync
    middleware (ours, WhiteNoise's) made it hand the request to a thread, hand
    it back to the event loop for the next layer, and to the thread again for
    the view; three thread hand-offs per request, each a few hundred
    microseconds of the web process's CPU. Every view here is synchronous and
    the body is read before the chain starts, so nothing is lost by running
    the whole chain in the request's own thread (``thread_sensitive``, one per
    request as before), with one hand-off.
    """

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
from classifier_site.server_limits import apply_to_daphne  # noqa: E402

apply_to_daphne()

application = ProtocolTypeRouter(
    {
        "http": LengthForChunkedBodies(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
