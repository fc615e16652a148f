"""Alert rules, the alerts they fired, and every delivery attempt's outcome.

A rule watches its owner's cameras (all of them when none is chosen) for an
event of one label seen in at least ``min_frames`` consecutive frames at
``min_confidence`` or more; it fires at most once per event and then rests
``cooldown_seconds`` per camera. Each alert is delivered to the rule's webhook
and e-mail addresses; ``AlertDelivery`` is the delivery log.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class AlertRule(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=100)
    cameras = models.ManyToManyField("classification.Camera", blank=True, related_name="alert_rules",
                                     help_text="None chosen: every camera of the owner.")
    label = models.CharField(max_length=100, help_text="The class that fires it, e.g. uber_eats.")
    min_confidence = models.FloatField(default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    min_frames = models.PositiveIntegerField(default=2, validators=[MinValueValidator(1)],
                                             help_text="Consecutive frames at the minimum confidence or more.")
    cooldown_seconds = models.PositiveIntegerField(default=300, help_text="Rest after an alert, per camera.")
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.CharField(max_length=200, blank=True,
                                      help_text="Signs each webhook body (HMAC-SHA256); never shown again once saved.")
    email_to = models.CharField(max_length=500, blank=True, help_text="Comma-separated addresses.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class AlertStreak(models.Model):
    """How many consecutive qualifying frames a rule has counted in one event, and whether it fired."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey("classification.Event", on_delete=models.CASCADE, related_name="+")
    frames = models.PositiveIntegerField(default=0)
    decided = models.BooleanField(default=False, help_text="Fired, or held back by the cooldown: once per event.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "event"], name="one_streak_per_rule_and_event")]


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    event = models.ForeignKey("classification.Event", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="alerts")
    camera = models.ForeignKey("classification.Camera", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="alerts")
    frame = models.ForeignKey("classification.Classification", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    label = models.CharField(max_length=100)
    confidence = models.FloatField()
    frame_count = models.PositiveIntegerField()
    fired_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-fired_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule}: {self.label} at {self.fired_at:%Y-%m-%d %H:%M:%S}"


class AlertDelivery(models.Model):
    class Channel(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        EMAIL = "email", "E-mail"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=500, help_text="The webhook URL or the e-mail addresses.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="An attempt is under way until then.")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alert deliveries"

    def __str__(self) -> str:
        return f"{self.channel} to {self.target}: {self.status}"
