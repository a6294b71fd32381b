from django.contrib import admin

from rewardmodel.models import DatasetSnapshot


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    """Read-only: snapshots are made by the export service and never changed."""

    list_display = ["id", "name", "export_format", "status", "created_by", "created_at", "content_hash"]
    list_filter = ["status", "export_format"]
    search_fields = ["name", "content_hash"]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
