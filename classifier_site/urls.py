from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("classification.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("classification.web.urls")),
]

# The site's own error pages, and JSON under /api/ (classification/web/errors.py).
handler400 = "classification.web.errors.bad_request"
handler403 = "classification.web.errors.permission_denied"
handler404 = "classification.web.errors.not_found"
handler500 = "classification.web.errors.server_error"
