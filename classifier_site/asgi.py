"""ASGI entry point for daphne: HTTP through Django, websockets through Channels.

Websocket handshakes must come from an allowed origin (the site's own hosts),
so another site cannot open a socket with a visitor's cookies. The server's
own limits follow the settings (``classifier_site.server_limits``), and
chunked request bodies get a length before Django reads them
(``classifier_site.request_bodies``).
"""

import os

from django.core.asgi import get_asgi_application

from classifier_site.daphne_requests import stop_twisted_form_parsing

stop_twisted_form_parsing()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

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
