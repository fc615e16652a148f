from django.urls import path

from classification.web import camera_pages, files, probes, views

urlpatterns = [
    path("", views.upload, name="upload"),
    path("healthz", probes.healthz, name="healthz"),
    path("readyz", probes.readyz, name="readyz"),
    path("metrics", probes.metrics_view, name="metrics"),
    path("webcam/", views.webcam, name="webcam"),
    path("history/", views.history, name="history"),
    path("cameras/", camera_pages.dashboard, name="cameras"),
    path("cameras/<int:pk>/", camera_pages.timeline, name="camera-timeline"),
    path("classifications/status.json", views.status_json, name="classification-status"),
    path("classifications/<int:pk>/", views.detail, name="classification-detail"),
    path("classifications/<int:pk>/image", files.image, name="classification-image"),
    path("classifications/<int:pk>/thumbnail", files.thumbnail, name="classification-thumbnail"),
]
