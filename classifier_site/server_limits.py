"""The HTTP server's own limits, taken from the settings: the one place that ties them to the server.

The settings promise sizes and times (``CLASSIFIER_WEBCAM_MAX_FRAME_BYTES``,
``CLASSIFIER_REQUEST_IDLE_TIMEOUT_SECONDS``, ...); the server must agree, or
it cuts a connection before the application can answer with a reason. The
server today is daphne (Twisted and autobahn), whose command line cannot
express all of them, so :func:`apply_to_daphne` sets them on its classes when
the ASGI application is loaded, whichever way daphne was started (``make
run``, Docker Compose, the tests, the benchmarks). Another ASGI server would
map the same numbers onto its own options here.

- Websocket frames and messages up to twice the webcam frame limit reach the
  consumer, which refuses an oversized frame with ``frame_too_large`` and keeps
  the socket; only beyond that does autobahn close it (1009, message too big).
- A connection whose request stalls for the idle timeout is closed (Twisted's
  idle timer, 60 s by default), and a request body still incomplete after the
  body timeout is answered 408 and closed, so a client that trickles a byte
  now and then cannot hold a connection for ever.
- One address may send at most ``CLASSIFIER_MAX_CONCURRENT_UPLOADS_PER_ADDRESS``
  request bodies at once; the next is answered 429 as soon as its headers
  arrive, before its body is read.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter

from django.conf import settings

logger = logging.getLogger(__name__)

_bodies_in_flight: Counter[str] = Counter()  # per client address, in this server process


def websocket_message_limit() -> int:
    """The largest websocket frame or message the server passes on to a consumer."""
    return 2 * settings.CLASSIFIER["WEBCAM_MAX_FRAME_BYTES"]


def request_limits() -> dict[str, float]:
    config = settings.CLASSIFIER
    return {
        "idle_timeout": config["REQUEST_IDLE_TIMEOUT_SECONDS"],
        "body_timeout": config["REQUEST_BODY_TIMEOUT_SECONDS"],
        "max_bodies_per_address": config["MAX_CONCURRENT_UPLOADS_PER_ADDRESS"],
    }


def refusal(path: bytes, status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection: the API's error shape, or the upload form's."""
    if path.startswith(b"/api/"):
        body = {"error": {"code": code, "message": message}}
    else:
        body = {"accepted": [], "rejected": [{"name": "", "code": code, "message": message, "status": status}]}
    data = json.dumps(body).encode()
    reason = {408: b"Request Timeout", 413: b"Content Too Large", 429: b"Too Many Requests"}[status]
    head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n" % (
        status, reason, len(data))
    if status == 429:
        head += b"Retry-After: 5\r\n"
    return head + b"\r\n" + data


def apply_to_daphne() -> None:
    """Set the limits on daphne's server, HTTP factory and request classes (once per process)."""
    try:
        from daphne import http_protocol, server
    except ImportError:  # served by another ASGI server: its options are set where it is started
        return
    request_class = http_protocol.WebRequest
    if getattr(request_class, "_classifier_limits", False):
        return
    _raise_websocket_limits(server.Server)
    _set_idle_timeout(http_protocol.HTTPFactory)
    _limit_request_bodies(request_class)
    request_class._classifier_limits = True


def _raise_websocket_limits(server_class) -> None:
    original_init = server_class.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        limit = websocket_message_limit()
        # 0 means "no limit" to autobahn: leave it. Otherwise at least what the settings promise.
        if self.websocket_max_message_size:
            self.websocket_max_message_size = max(self.websocket_max_message_size, limit)
        if self.websocket_max_frame_size:
            self.websocket_max_frame_size = max(self.websocket_max_frame_size, limit)

    server_class.__init__ = __init__


def _set_idle_timeout(factory_class) -> None:
    original_init = factory_class.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.timeOut = request_limits()["idle_timeout"]  # Twisted's idle timer of each HTTP connection

    factory_class.__init__ = __init__


def _client_address(request) -> str:
    """The client's address, from the proxy's header when daphne was told to trust one."""
    header = request.server.proxy_forwarded_address_header
    if header:
        values = request.requestHeaders.getRawHeaders(header.encode()) or []
        if values:
            return values[0].split(b",")[0].strip().decode("latin-1")
    peer = request.channel.transport.getPeer()
    return str(getattr(peer, "host", "unknown"))


def _release(request) -> None:
    address = request.__dict__.pop("_classifier_body_address", None)
    if address is not None:
        _bodies_in_flight[address] -= 1
        if _bodies_in_flight[address] <= 0:
            del _bodies_in_flight[address]


def _refuse(request, status: int, code: str, message: str) -> None:
    _release(request)
    transport = request.channel.transport if request.channel is not None else None
    if transport is None:
        return
    path = getattr(request.channel, "_path", None) or request.uri or b""  # the body (and uri) are not in yet
    transport.write(refusal(path, status, code, message))
    transport.loseConnection()


def _limit_request_bodies(request_class) -> None:
    original_got_length = request_class.gotLength
    original_received = request_class.requestReceived
    original_lost = request_class.connectionLost
    original_check = request_class.check_timeouts

    def gotLength(self, length):
        original_got_length(self, length)
        if length == 0:  # no body: nothing to hold the connection open for
            return
        address = _client_address(self)
        self._classifier_body_address = address
        self._classifier_body_started = time.monotonic()
        _bodies_in_flight[address] += 1
        allowed = request_limits()["max_bodies_per_address"]
        if _bodies_in_flight[address] > allowed:
            logger.warning("Refused an upload from %s: %d already in progress", address, allowed)
            _refuse(self, 429, "too_many_uploads",
                    f"{allowed} uploads from your address are already in progress; wait for them to finish.")

    def requestReceived(self, command, path, version):
        _release(self)  # the whole body is here: the application takes over
        return original_received(self, command, path, version)

    def connectionLost(self, reason):
        _release(self)
        return original_lost(self, reason)

    def check_timeouts(self):
        started = self.__dict__.get("_classifier_body_started")
        if "_classifier_body_address" in self.__dict__ and started is not None:
            limit = request_limits()["body_timeout"]
            if time.monotonic() - started > limit:
                _refuse(self, 408, "request_timeout", f"The request body did not arrive within {limit:g} s.")
                return
        return original_check(self)

    request_class.gotLength = gotLength
    request_class.requestReceived = requestReceived
    request_class.connectionLost = connectionLost
    request_class.check_timeouts = check_timeouts
