from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission


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


class CanActivateModels(BasePermission):
    """Users with the change permission on model versions: 401 without credentials, 403 for other users.

    The permission, not ``is_staff``: a staff account that may only look
    must not change which model classifies everyone's photos.
    """

    message = "Activating a model needs the change permission on model versions."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("classification.change_modelversion"))
