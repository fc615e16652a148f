from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAdminUser


class ReadOrAuthenticatedWrite(BasePermission):
    """Anyone may read; writes need a signed-in user unless anonymous writes are enabled.

    With ``CLASSIFIER_REQUIRE_LOGIN`` on, reading needs a signed-in user too.
    """

    message = "Sign in (session or token) to do this; anonymous writes are disabled."

    def has_permission(self, request, view) -> bool:
        signed_in = bool(request.user and request.user.is_authenticated)
        if settings.CLASSIFIER_REQUIRE_LOGIN:
            return signed_in
        if request.method in SAFE_METHODS:
            return True
        return bool(settings.API_ALLOW_ANONYMOUS_WRITES or signed_in)


class StaffOnly(IsAdminUser):
    """Staff users only (``is_staff``): 401 without credentials, 403 for other users."""

    message = "Only staff users can do this."
