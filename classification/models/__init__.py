"""Models: what the service stores, one module per concern; the bottom layer.

Owns: classifications (and the review queue's proxy), model versions, worker
processes, training runs, API tokens, cameras and their state, events, alert rules and deliveries.
May import: Django and ``ml.preprocessing`` (the preprocessing modes); no other room.
Django finds the models here (``classification.models``); every other module
imports them from here too, so their modules can move without anyone noticing.
"""

from classification.models.alerts import Alert, AlertDelivery, AlertRule, AlertStreak
from classification.models.cameras import Camera, CameraState
from classification.models.classifications import (
    Classification, ReviewQueueItem, image_upload_path, thumbnail_upload_path,
)
from classification.models.events import Event
from classification.models.registry import ModelVersion, artifact_upload_path, default_display_name
from classification.models.tokens import ApiToken
from classification.models.training import TrainingRun
from classification.models.workers import WorkerProcess

__all__ = ["ApiToken", "Classification", "ModelVersion", "ReviewQueueItem", "TrainingRun", "WorkerProcess"]
__all__ += ["Alert", "AlertDelivery", "AlertRule", "AlertStreak", "Camera", "CameraState", "Event"]
# The upload paths stay importable here because the first migrations name them by this path.
__all__ += ["default_display_name"]
__all__ += ["artifact_upload_path", "image_upload_path", "thumbnail_upload_path"]
