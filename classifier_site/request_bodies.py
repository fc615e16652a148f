"""Request bodies sent in chunks (``Transfer-Encoding: chunked``) work like any other.

Django reads a form body only up to its ``Content-Length``; a chunked upload
has none, so its files were silently missing (answered ``missing_file``).
This ASGI middleware reads such a body into a spooled temporary file (in
memory while small), up to what the upload limits allow, and hands Django the
same body with its length. Over the limit the answer is 413 with a reason,
before Django sees anything.
"""

from __future__ import annotations

import tempfile

from django.conf import settings

from classifier_site.server_limits import send_refusal

CHUNK = 64 * 1024


def max_body_bytes() -> int:
    """The largest body an upload can need: every allowed file at its limit, plus the form's other fields."""
    config = settings.CLASSIFIER
    return config["MAX_FILES_PER_REQUEST"] * config["MAX_UPLOAD_BYTES"] + settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _chunked_without_length(headers) -> bool:
    names = {name.lower(): value for name, value in headers}
    return b"content-length" not in names and b"chunked" in names.get(b"transfer-encoding", b"").lower()


class LengthForChunkedBodies:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not _chunked_without_length(scope.get("headers", [])):
            return await self.app(scope, receive, send)
        spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)
        size, limit = 0, max_body_bytes()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                spool.close()
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                spool.close()
                await _send_too_large(send, scope, limit)
                return
            spool.write(chunk)
            if not message.get("more_body", False):
                break
        spool.seek(0)
        headers = [(name, value) for name, value in scope["headers"] if name.lower() != b"transfer-encoding"]
        headers.append((b"content-length", str(size).encode()))
        body_sent = False

        async def replay():
            nonlocal body_sent
            if body_sent:
                return await receive()  # after the body: the client's disconnect, if it comes
            chunk = spool.read(CHUNK)
            body_sent = spool.tell() >= size
            if body_sent:
                spool.close()
            return {"type": "http.request", "body": chunk, "more_body": not body_sent}

        await self.app({**scope, "headers": headers}, replay, send)


async def _send_too_large(send, scope, limit: int) -> None:
    await send_refusal(send, scope.get("path", ""), 413, "request_too_large",
                       f"The request body is larger than {limit:,} bytes, the most an upload can need.")
