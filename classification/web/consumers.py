"""Websocket consumers: thin relays between browsers and the services.

``WebcamConsumer`` takes camera frames as binary messages, submits each like
an upload (same validation, same workers) and relays results the worker
pushes to this socket's own group. ``LiveFeedConsumer`` relays the finished
classifications of the socket's owner (a signed-in user, or the browser
session) to their history and upload pages, and nobody else's.

A message a socket does not expect (text where a frame was due, JSON that
does not parse, anything sent to the live feed) gets an ``error``-type reply
naming the problem; the socket stays open and nothing is logged as a crash.
"""

from __future__ import annotations

import json
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from classification.events.frames import FrameOutcome, StreamTracker, accept_frame
from classification.events.inflight import FramesInFlight, finished_payloads
from classification.events.payloads import event_payload
from classification.intake import ratelimit, submission
from classification.intake.validation import ImageRejected, human_size
from classification.models import Classification
from classification.privacy.owners import SESSION_FIELD, Owner, owner_from
from classification.serving.notifications import FINISHED_EVENT, owner_group, pushed_results, pushes_reach_pages
from classification.serving.payloads import classification_payload


def _login_missing(scope) -> bool:
    user = scope.get("user")
    return settings.CLASSIFIER_REQUIRE_LOGIN and not (user and user.is_authenticated)


@database_sync_to_async
def _scope_owner(scope, *, create: bool = False) -> Owner:
    """The socket's owner; ``create`` gives an anonymous visitor's session an owner key and saves it.

    The webcam page already made one (its cookie came with the handshake); a
    client that opens the socket without a session gets one that lives as
    long as the socket, so its frames still belong to somebody.
    """
    session = scope.get("session")
    had_key = bool(session is not None and session.get(SESSION_FIELD))
    owner = owner_from(scope.get("user"), session, create=create)
    if create and owner.key and not had_key:
        session.save()
    return owner


class WebcamConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        if _login_missing(self.scope):
            await self.close(code=4401)
            return
        self.owner = await _scope_owner(self.scope, create=True)
        session = uuid.uuid4().hex
        self.group = f"webcam.{session}"
        self.tracker = StreamTracker(f"webcam:{session}")  # one socket, one webcam session: its frames form events
        options = settings.CLASSIFIER
        self.in_flight = FramesInFlight(options["WEBCAM_MAX_IN_FLIGHT"], options["WEBCAM_FRAME_TIMEOUT_SECONDS"])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # "push": False tells the page that results are not pushed (no Redis): it polls with {"type": "poll"}.
        await self.send_json({"type": "ready", "max_in_flight": self.in_flight.limit, "push": pushes_reach_pages()})

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if bytes_data is None:
            if _is_poll(text_data):
                await self._settle(check_database=True)
                return
            await self._reject("binary_expected", "Send each frame as one binary message (JPEG or PNG bytes).")
            return
        await self._settle(check_database=self.in_flight.full())
        if self.in_flight.full():
            await self._reject(
                "busy", f"{len(self.in_flight)} frames are still being classified; this one was skipped."
            )
            return
        if not await self._within_rate():
            await self._reject("rate_limited", "Frames are coming too fast; this one was skipped.")
            return
        limit = settings.CLASSIFIER["WEBCAM_MAX_FRAME_BYTES"]
        if len(bytes_data) > limit:
            await self._reject("frame_too_large",
                               f"The frame is {human_size(len(bytes_data))}; the limit is {human_size(limit)}.")
            return
        try:
            outcome = await self._submit(bytes_data)
        except ImageRejected as exc:
            await self._reject(exc.code, exc.message)
            return
        except submission.ServiceUnavailable as exc:
            await self._reject("unavailable", str(exc))
            return
        if outcome.repeated_in is not None:  # nearly the same picture as the last stored frame: counted, not stored
            await self.send_json(await self._unchanged(outcome.repeated_in))
            return
        classification = outcome.stored
        self.in_flight.add(str(classification.public_id))
        await self.send_json(
            {"type": "accepted", "classification": classification_payload(classification), "in_flight": len(self.in_flight)}
        )

    @database_sync_to_async
    def _within_rate(self) -> bool:
        address = (self.scope.get("client") or [None])[0]
        ident = ratelimit.client_ident(self.scope.get("user"), address)
        return ratelimit.allow("webcam", ident, settings.CLASSIFIER["WEBCAM_FRAME_RATE"])

    @database_sync_to_async
    def _submit(self, data: bytes) -> FrameOutcome:
        return accept_frame(
            data, self.tracker, source=Classification.Source.WEBCAM, user=self.owner.user, owner_key=self.owner.key,
            notify_group=self.group, original_name="webcam.jpg",
        )

    @database_sync_to_async
    def _unchanged(self, event) -> dict:
        """The frame a repeat repeats, and its event: the page keeps showing that reading."""
        return {"type": "unchanged", "event": event_payload(event), "classification": classification_payload(event.last_frame)}

    async def _reject(self, code: str, message: str):
        await self.send_json({"type": "rejected", "code": code, "message": message})

    async def _settle(self, *, check_database: bool) -> None:
        """Free the slots of frames that timed out, and (checking the database) of finished frames whose
        push was lost or never comes, sending their results as a push would."""
        timeout = self.in_flight.timeout_s
        for public_id in self.in_flight.expire():
            await self.send_json({
                "type": "expired", "id": public_id, "in_flight": len(self.in_flight),
                "message": f"No result after {timeout:.0f} s; the frame's slot is free again.",
            })
        if check_database and self.in_flight.unanswered():
            for classification in await database_sync_to_async(finished_payloads)(self.in_flight.unanswered()):
                await self.classification_finished({"classification": classification})

    async def classification_finished(self, event):
        for classification in pushed_results(event):
            # Sent even when the frame held no slot (it timed out, or a poll answered it first): the page
            # shows a result once, however often it arrives.
            self.in_flight.free(classification["id"])
            await self.send_json({"type": "result", "classification": classification, "in_flight": len(self.in_flight)})


def _is_poll(text_data: str | None) -> bool:
    try:
        return json.loads(text_data or "").get("type") == "poll"
    except (ValueError, AttributeError):
        return False


class LiveFeedConsumer(AsyncJsonWebsocketConsumer):
    """Pushes only the owner's results: it joins the owner's group, or none for a visitor with no uploads."""

    async def connect(self):
        if _login_missing(self.scope):
            await self.close(code=4401)
            return
        owner = await _scope_owner(self.scope)
        self.group = owner_group(getattr(owner.user, "pk", None), owner.key)
        if self.group:
            await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        await self.send_json(
            {"type": "error", "code": "unexpected_message", "message": "This socket only sends results; it reads nothing."}
        )

    async def dispatch(self, message):
        # A result is relayed as it came, touching no database: Channels would first hand each message to a
        # thread to close stale database connections (0.2 of the 1.3 ms of web CPU a push cost).
        if message["type"] == FINISHED_EVENT:
            await self.classification_finished(message)
            return
        await super().dispatch(message)

    async def classification_finished(self, event):
        for classification in pushed_results(event):  # a batch's results for this owner come in one message
            await self.send_json({"type": "result", "classification": classification})
