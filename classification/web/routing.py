from django.urls import path

from classification.web import consumers

websocket_urlpatterns = [
    path("ws/webcam/", consumers.WebcamConsumer.as_asgi()),
    path("ws/classifications/", consumers.LiveFeedConsumer.as_asgi()),
]
