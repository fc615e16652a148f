"""The REST API under /api/v1/ (Django REST framework); names in the ``api`` namespace."""

from django.urls import path, re_path

from classification.api import cameras, views

app_name = "api"

urlpatterns = [
    path("classifications/", views.ClassificationCollection.as_view(), name="classification-list"),
    path("classifications/<uuid:id>/", views.ClassificationDetail.as_view(), name="classification-detail"),
    path(
        "classifications/<uuid:id>/suggestion/", views.ClassificationSuggestion.as_view(),
        name="classification-suggestion",
    ),
    path("model-versions/", views.ModelVersionCollection.as_view(), name="model-version-list"),
    path("model-versions/<int:pk>/", views.ModelVersionDetail.as_view(), name="model-version-detail"),
    path("model-versions/<int:pk>/activate/", views.ModelVersionActivate.as_view(), name="model-version-activate"),
    path("cameras/", cameras.CameraCollection.as_view(), name="camera-list"),
    path("cameras/<uuid:id>/", cameras.CameraDetail.as_view(), name="camera-detail"),
    path("cameras/<uuid:id>/events/", cameras.CameraEvents.as_view(), name="camera-events"),
    re_path(r"^[\s\S]*$", views.NotFoundView.as_view(), name="not-found"),  # any character, newlines too
]
