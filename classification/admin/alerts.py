"""Alert rules (the webhook secret never shown back in full) and the alerts they fired, with their delivery log."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from classification.alerts.signing import new_secret
from classification.cameras.credentials import MASK
from classification.models import Alert, AlertDelivery, AlertRule


class AlertRuleForm(forms.ModelForm):
    webhook_url = forms.URLField(required=False, max_length=500, assume_scheme="https",
                                 help_text="Receives a signed JSON POST for each alert.")
    webhook_secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Signs each webhook body (HMAC-SHA256, header X-Classifier-Signature). Empty: keep the stored one; "
                  "a new rule with a webhook and no secret gets a random one, shown once after saving.",
    )

    class Meta:
        model = AlertRule
        fields = ["name", "owner", "enabled", "cameras", "label", "min_confidence", "min_frames", "cooldown_seconds",
                  "webhook_url", "webhook_secret", "email_to"]

    def clean_webhook_secret(self):
        return self.cleaned_data.get("webhook_secret") or self.instance.webhook_secret

    def clean_email_to(self):
        addresses = [address.strip() for address in self.cleaned_data.get("email_to", "").split(",") if address.strip()]
        for address in addresses:
            forms.EmailField().clean(address)
        return ", ".join(addresses)

    def clean(self):
        data = super().clean()
        if not data.get("webhook_url") and not data.get("email_to"):
            raise forms.ValidationError("Give a webhook URL, e-mail addresses, or both: an alert must go somewhere.")
        owner = data.get("owner")
        strangers = [camera.name for camera in data.get("cameras", []) if owner and camera.owner_id != owner.pk]
        if strangers:
            self.add_error("cameras", f"Not cameras of {owner}: {', '.join(strangers)}.")
        return data


class DeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = readonly_fields = ("channel", "target", "status", "attempts", "response_status", "last_error",
                                "created_at", "finished_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = ("name", "owner", "label", "min_confidence", "min_frames", "cooldown_seconds", "webhook_url",
                    "email_to", "secret", "enabled")
    list_filter = ("enabled", "label", "owner")
    filter_horizontal = ("cameras",)

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    @admin.display(description="secret")
    def secret(self, rule: AlertRule) -> str:
        return f"{rule.webhook_secret[:4]}{MASK}" if rule.webhook_secret else "—"

    def save_model(self, request, obj, form, change):
        generated = bool(obj.webhook_url and not obj.webhook_secret)
        if generated:
            obj.webhook_secret = new_secret()
        super().save_model(request, obj, form, change)
        if generated:
            self.message_user(request, f"The webhook secret of “{obj}” is {obj.webhook_secret} — copy it now: "
                                       "it will not be shown again.", messages.WARNING)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("fired_at", "rule", "camera", "label", "confidence", "frame_count", "delivery_status")
    list_filter = ("rule", "camera", "label")
    list_select_related = ("rule", "camera")
    date_hierarchy = "fired_at"
    readonly_fields = ("rule", "event", "camera", "frame", "label", "confidence", "frame_count", "fired_at")
    inlines = [DeliveryInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="deliveries")
    def delivery_status(self, alert: Alert) -> str:
        return ", ".join(f"{d.channel}: {d.status} ({d.attempts}×)" for d in alert.deliveries.all()) or "—"


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: every webhook and e-mail, its attempts and the last error."""

    list_display = ("created_at", "status", "channel", "attempts", "response_status", "last_error", "target", "alert",
                    "finished_at")
    list_filter = ("status", "channel")
    list_select_related = ("alert__rule",)
    readonly_fields = list_display

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
