from django.urls import path

from classification.web import files, probes, views

urlpatterns = [
    path("", views.upload, name="upload"),
    path("healthz", probes.healthz, name="healthz"),
    path("readyz", probes.readyz, name="readyz"),
    path("metrics", probes.metrics_view, name="metrics"),
    path("webcam/", views.webcam, name="webcam"),
    path("history/", views.history, name="history"),
    path("classifications/status.json", views.status_json, name="classification-status"),
    path("classifications/<int:pk>/", views.detail, name="classification-detail"),
    path("classifications/<int:pk>/image", files.image, name="classification-image"),
    path("classifications/<int:pk>/thumbnail", files.thumbnail, name="classification-thumbnail"),
]
