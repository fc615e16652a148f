from django.contrib.auth import views as auth_views
from django.urls import path

from classification.web import camera_pages, files, history, probes, tokens, views

urlpatterns = [
    path("", views.upload, name="upload"),
    path("healthz", probes.healthz, name="healthz"),
    path("readyz", probes.readyz, name="readyz"),
    path("metrics", probes.metrics_view, name="metrics"),
    path("webcam/", views.webcam, name="webcam"),
    path("history/", history.history, name="history"),
    path("history/export.csv", history.export, {"fmt": "csv"}, name="history-export-csv"),
    path("history/export.json", history.export, {"fmt": "json"}, name="history-export-json"),
    path("cameras/", camera_pages.dashboard, name="cameras"),
    path("cameras/<uuid:public_id>/", camera_pages.timeline, name="camera-timeline"),
    path("classifications/status.json", views.status_json, name="classification-status"),
    path("classifications/<uuid:public_id>/", views.detail, name="classification-detail"),
    path("classifications/<uuid:public_id>/json", views.detail_json, name="classification-json"),
    path("classifications/<uuid:public_id>/image", files.image, name="classification-image"),
    path("classifications/<uuid:public_id>/thumbnail", files.thumbnail, name="classification-thumbnail"),
    path("classifications/<uuid:public_id>/correction", views.correct, name="classification-correct"),
    path("classifications/<uuid:public_id>/delete", views.delete, name="classification-delete"),
    path("account/login/", auth_views.LoginView.as_view(), name="login"),
    path("account/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", tokens.tokens_page, name="api-tokens"),
    path("account/tokens/<int:token_id>/revoke", tokens.revoke_token, name="api-token-revoke"),
]
