"""Cameras in the admin: settings (credentials never shown back), lease and health read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from classification.cameras.credentials import masked_password
from classification.cameras.health import effective_status
from classification.cameras.services import CameraSettingsError, normalized_connection
from classification.models import Camera


class CameraForm(forms.ModelForm):
    """The password field never shows the stored one: left empty, it keeps it."""

    password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored password. Credentials typed into the URL are moved here.",
    )
    clear_password = forms.BooleanField(required=False, help_text="Remove the stored password.")

    class Meta:
        model = Camera
        fields = ["name", "owner", "kind", "url", "username", "password", "clear_password", "interval_seconds", "enabled"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        password = data.get("password") or ("" if data.get("clear_password") else self.instance.password)
        try:
            connection = normalized_connection(data["kind"], data["url"], data.get("username", ""), password)
        except CameraSettingsError as exc:
            self.add_error(exc.field, exc.message)
            return data
        data["url"], data["username"], data["password"] = connection.url, connection.username, connection.password
        return data


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    form = CameraForm
    list_display = ("name", "status", "last_frame_at", "last_error", "kind", "interval_seconds", "enabled", "owner")
    list_filter = ("kind", "enabled", "owner")
    list_select_related = ("state", "owner")
    search_fields = ("name", "url")
    readonly_fields = ("stored_password", "status", "status_since", "last_frame_at", "last_error", "frames_taken",
                       "capturer", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "owner", "kind", "url", "interval_seconds", "enabled")}),
        ("Credentials", {"fields": ("username", "stored_password", "password", "clear_password")}),
        ("Health", {"fields": ("status", "status_since", "last_frame_at", "last_error", "frames_taken", "capturer")}),
        ("Times", {"fields": ("created_at", "updated_at")}),
    )

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    @staticmethod
    def _state(camera: Camera):
        return getattr(camera, "state", None) if camera.pk else None

    @admin.display(description="password")
    def stored_password(self, camera: Camera) -> str:
        return masked_password(camera.password) or "—"

    @admin.display(description="status")
    def status(self, camera: Camera) -> str:
        status = effective_status(camera, self._state(camera))
        colour = {"online": "#0a7a44", "connecting": "#8a6100"}.get(status, "#b3261e")
        return format_html('<b style="color:{}">{}</b>', colour, status.replace("_", " "))

    @admin.display(description="status since")
    def status_since(self, camera: Camera):
        return getattr(self._state(camera), "status_since", None)

    @admin.display(description="last frame")
    def last_frame_at(self, camera: Camera):
        return getattr(self._state(camera), "last_frame_at", None)

    @admin.display(description="last error")
    def last_error(self, camera: Camera) -> str:
        state = self._state(camera)
        if not state or not state.last_error:
            return "—"
        return f"{state.last_error} ({state.last_error_at:%Y-%m-%d %H:%M:%S})" if state.last_error_at else state.last_error

    @admin.display(description="frames taken")
    def frames_taken(self, camera: Camera):
        return getattr(self._state(camera), "frames_taken", 0)

    @admin.display(description="capturer (lease)")
    def capturer(self, camera: Camera) -> str:
        state = self._state(camera)
        if not state or not state.holder:
            return "—"
        return f"{state.holder} until {state.lease_expires_at:%H:%M:%S}"
