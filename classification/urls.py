from django.urls import path

from classification import views

urlpatterns = [
    path("", views.upload, name="upload"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("webcam/", views.webcam, name="webcam"),
    path("history/", views.history, name="history"),
    path("classifications/status.json", views.status_json, name="classification-status"),
    path("classifications/<int:pk>/", views.detail, name="classification-detail"),
    path("classifications/<int:pk>/image", views.image, name="classification-image"),
    path("classifications/<int:pk>/thumbnail", views.thumbnail, name="classification-thumbnail"),
]
