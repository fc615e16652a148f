"""The cameras dashboard's websocket: relays each visible camera's frames, health and events.

It joins one channel-layer group per camera the user may see (``camera.ID``):
the worker pushes finished frames there (a camera's frames carry it as their
``notify_group``), the capture service health changes, the event recorder
event updates.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from classification.cameras.services import visible_cameras
from classification.serving.notifications import pushed_results


class CameraDashboardConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if not (user and user.is_authenticated):
            await self.close(code=4401)
            return
        self.groups_joined = await self._groups(user)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    @database_sync_to_async
    def _groups(self, user) -> list[str]:
        return [camera.group for camera in visible_cameras(user)]

    async def receive_json(self, content, **kwargs):
        await self.send_json({"type": "rejected", "message": "This socket only sends."})

    async def classification_finished(self, event):
        for classification in pushed_results(event):
            await self.send_json({"type": "frame", "classification": classification})

    async def camera_status(self, event):
        await self.send_json({"type": "status", "camera": event["camera"], "health": event["health"]})

    async def camera_event(self, event):
        await self.send_json({"type": "event", "camera": event["camera"], "event": event["event"]})
