"""ASGI entry point for daphne: HTTP through Django, websockets through Channels.

Websocket handshakes must come from an allowed origin (the site's own hosts),
so another site cannot open a socket with a visitor's cookies.
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

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
