from django.urls import path

from classification.web import camera_socket, consumers

websocket_urlpatterns = [
    path("ws/webcam/", consumers.WebcamConsumer.as_asgi()),
    path("ws/classifications/", consumers.LiveFeedConsumer.as_asgi()),
    path("ws/cameras/", camera_socket.CameraDashboardConsumer.as_asgi()),
]
