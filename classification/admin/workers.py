"""Worker processes in the admin: which model each serves, with which runtime."""

from django.contrib import admin

from classification.admin.changelists import BoundedFilters
from classification.models import WorkerProcess


@admin.register(WorkerProcess)
class WorkerProcessAdmin(BoundedFilters, admin.ModelAdmin):
    list_display = (
        "hostname", "pid", "model_version", "runtime", "load_count", "load_seconds", "warmup_seconds", "last_seen"
    )
    readonly_fields = list_display

    def has_add_permission(self, request) -> bool:
        return False
