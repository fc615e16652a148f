"""Worker processes in the admin: which are live (by heartbeat), which model each serves, with which runtime."""

from django.contrib import admin

from classification.admin.changelists import BoundedFilters
from classification.models import WorkerProcess


@admin.register(WorkerProcess)
class WorkerProcessAdmin(BoundedFilters, admin.ModelAdmin):
    list_display = (
        "hostname", "pid", "role", "live", "model_version", "runtime", "threads", "load_count", "load_seconds",
        "warmup_seconds", "started_at", "last_seen",
    )
    list_filter = ("role",)
    readonly_fields = list_display

    @admin.display(boolean=True, description="live")
    def live(self, process: WorkerProcess) -> bool:
        """Beat within three heartbeats (rows silent for ten are deleted by the live ones)."""
        return process.is_live

    def has_add_permission(self, request) -> bool:
        return False
