"""Request rates: the general anon/user rates from settings, plus one for uploads."""

from rest_framework.throttling import SimpleRateThrottle


class UploadRateThrottle(SimpleRateThrottle):
    """Uploads (POSTs) per user, or per IP address for anonymous clients: scope ``uploads``.

    Classifying costs far more than reading, so uploads have their own, lower
    rate (``API_THROTTLE_UPLOADS``) on top of the general ones; reads on the
    same URL are not counted.
    """

    scope = "uploads"

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        if request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
