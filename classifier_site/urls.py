from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from classification.api.schema import BrowsableSchemaView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("classification.api.urls")),
    path("api/schema/", BrowsableSchemaView.as_view(), name="api-schema"),
    # Browsers ask for /favicon.ico on pages that name none (JSON answers, files): the site's icon.
    path("favicon.ico", lambda request: HttpResponsePermanentRedirect(static("favicon.svg"))),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("classification.web.urls")),
]

# The site's own error pages, and JSON under /api/ (classification/web/errors.py).
handler400 = "classification.web.errors.bad_request"
handler403 = "classification.web.errors.permission_denied"
handler404 = "classification.web.errors.not_found"
handler500 = "classification.web.errors.server_error"
