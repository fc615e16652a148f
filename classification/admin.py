from django.contrib import admin

from classification.models import Classification, ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "architecture", "input_size", "is_active", "is_demo", "created_at")
    list_filter = ("is_active", "is_demo", "architecture")
    readonly_fields = ("artifact_sha256", "created_at")


@admin.register(Classification)
class ClassificationAdmin(admin.ModelAdmin):
    list_display = ("id", "original_name", "status", "predicted_label", "confidence", "source", "created_at")
    list_filter = ("status", "source", "predicted_label")
    search_fields = ("original_name", "content_hash")
    date_hierarchy = "created_at"
    readonly_fields = ("content_hash", "created_at", "started_at", "finished_at")
