"""The HTTP server's own limits, taken from the settings: the one place that ties them to the server.

The settings promise sizes and times (``CLASSIFIER_WEBCAM_MAX_FRAME_BYTES``,
``CLASSIFIER_REQUEST_IDLE_TIMEOUT_SECONDS``, ...); the server must agree, or
it cuts a connection before the application can answer with a reason.

- Websocket messages up to twice the webcam frame limit reach the consumer,
  which refuses an oversized frame with ``frame_too_large`` and keeps the
  socket; only beyond that does the server close it (1009, message too big).
  :mod:`classifier_site.serve` gives uvicorn that size.
- A connection that sends nothing, or stalls in the middle of a request, for
  the idle timeout is closed (:class:`HttpProtocol`; uvicorn's own timer
  covers only the wait between two requests); a request's headers must arrive
  within the idle timeout (408) and 64 KiB (431).
- A request body still incomplete after the body timeout is answered 408 and
  closed, so a client that trickles a byte now and then cannot hold a
  connection for ever; and one address may send at most
  ``CLASSIFIER_MAX_CONCURRENT_UPLOADS_PER_ADDRESS`` request bodies at once,
  the next answered 429 as soon as its headers arrive, before its body is read
  (:class:`RequestLimits`, ASGI middleware, so under any server).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


async def send_refusal(send, path: str, status: int, code: str, message: str) -> None:
    """Answer with the API's error shape (or the upload form's) and close the connection."""
    if path.startswith("/api/"):
        body = {"error": {"code": code, "message": message}}
    else:
        body = {"accepted": [], "rejected": [{"name": "", "code": code, "message": message, "status": status}]}
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
               (b"connection", b"close")]
    if status == 429:
        headers.append((b"retry-after", b"5"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


#: The most a request's line and headers may take; a browser's are a few kilobytes (Twisted allowed 16 KiB).
MAX_HEADER_BYTES = 64 * 1024


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, closing a connection the client leaves idle while it is the client's turn.

    uvicorn times only the wait between two requests (its keep-alive timeout,
    which :mod:`classifier_site.serve` sets to the idle timeout); a connection
    that sends nothing at all, or stops halfway through its headers or body,
    would otherwise be held for ever. The same timer runs from the connection's
    start and, while a request is still arriving, from its last byte; it stops
    when the request is complete (the server's turn, however long the view takes).

    Headers have no limit of their own in uvicorn (httptools keeps every byte),
    so a client sending a header byte now and then held a connection, and
    memory, for as long as it liked: a request's line and headers must arrive
    within the idle timeout (408) and within :data:`MAX_HEADER_BYTES` (431).
    The body's own time limit is :class:`RequestLimits`'.
    """

    _request_arriving = False
    _headers_arriving = False
    _header_bytes = 0
    _headers_deadline = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._wait_for_client()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_arriving = self._headers_arriving = True
        self._header_bytes = 0
        self._headers_deadline = self.loop.call_later(self.timeout_keep_alive, self._refuse_slow_headers)

    def on_headers_complete(self) -> None:
        self._headers_arriving = False
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
        super().connection_lost(exc)

    def _refuse_slow_headers(self) -> None:
        self._refuse(408, "Request Timeout", "The request's headers did not arrive in time.")

    def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer a request whose headers never completed, and close: the application never saw it."""
        if self.transport.is_closing():
            return
        body = message.encode()
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                             % (status, reason.encode(), len(body), body))
        self.transport.close()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._request_arriving = False
        self._unset_keepalive_if_required()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # stops the timer; a websocket upgrade hands the connection over
        if self._headers_arriving:  # still, after this packet
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(431, "Request Header Fields Too Large",
                             f"The request's headers are over {MAX_HEADER_BYTES // 1024} KiB.")
                return
        if self._request_arriving and self.transport.get_protocol() is self and not self.transport.is_closing():
            self._wait_for_client()

    def timeout_keep_alive_handler(self) -> None:
        if self.flow is not None and self.flow.read_paused:  # the server is not reading: not the client's stall
            self._wait_for_client()
            return
        if self._headers_arriving:
            self._refuse_slow_headers()
            return
        super().timeout_keep_alive_handler()

    def _wait_for_client(self) -> None:
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)


def _has_body(headers) -> bool:
    for name, value in headers:
        name = name.lower()
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


class RequestLimits:
    """ASGI middleware: at most so many request bodies at once per address (429), each in time (408).

    The address is the client's as the server gives it (behind a proxy, the one
    it forwards when the server trusts it: ``serve --proxy-headers``). A body
    counts from its headers until its last byte has arrived.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not _has_body(scope.get("headers", [])):
            return await self.app(scope, receive, send)
        limits = request_limits()
        address = (scope.get("client") or ("unknown",))[0]
        path = scope.get("path", "")
        _bodies_in_flight[address] += 1
        counted = True

        def release() -> None:
            nonlocal counted
            if counted:
                counted = False
                _bodies_in_flight[address] -= 1
                if _bodies_in_flight[address] <= 0:
                    del _bodies_in_flight[address]

        try:
            allowed = limits["max_bodies_per_address"]
            if _bodies_in_flight[address] > allowed:
                logger.warning("Refused an upload from %s: %d already in progress", address, allowed)
                await send_refusal(send, path, 429, "too_many_uploads",
                                   f"{allowed} uploads from your address are already in progress; wait for them to finish.")
                return
            loop = asyncio.get_running_loop()
            deadline = loop.time() + limits["body_timeout"]

            async def receive_in_time():
                if not counted:  # the body is in (or given up): the client's disconnect, if it comes
                    return await receive()
                try:
                    message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
                except TimeoutError:
                    release()
                    limit = limits["body_timeout"]
                    await send_refusal(send, path, 408, "request_timeout",
                                       f"The request body did not arrive within {limit:g} s.")
                    return {"type": "http.disconnect"}
                if message["type"] != "http.request" or not message.get("more_body", False):
                    release()
                return message

            await self.app(scope, receive_in_time, send)
        finally:
            release()
