from django.contrib import admin

from labeling.models import Adjudication, Assignment, Batch, Item, Judgement, Project, ProjectMembership, Response


class MembershipInline(admin.TabularInline):
    model = ProjectMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "task_kind", "overlap", "assistance_mode", "created_at"]
    list_filter = ["task_kind", "assistance_mode"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(ProjectMembership)
class ProjectMembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "created_at"]
    list_select_related = ["project", "user"]
    autocomplete_fields = ["user", "project"]


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "project", "status", "priority", "item_count", "created_at"]
    list_filter = ["status"]
    list_select_related = ["project"]
    search_fields = ["name"]
    raw_id_fields = ["project", "created_by"]


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "external_id", "kind", "batch", "judgement_count", "lease_count"]
    list_filter = ["kind"]
    list_select_related = ["batch"]
    search_fields = ["external_id"]
    raw_id_fields = ["batch"]
    show_full_result_count = False  # no COUNT(*) over millions of items per page view
    inlines = [ResponseInline]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "response_id", "position", "model_name"]
    raw_id_fields = ["item"]
    show_full_result_count = False


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "rater", "status", "created_at", "expires_at"]
    list_filter = ["status"]
    raw_id_fields = ["project", "item", "rater"]
    show_full_result_count = False


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin):
    """Judgements are the raters' record: only superusers may correct or delete one, and every such
    change is kept in the admin log (django.contrib.admin LogEntry: who, when, which fields)."""

    list_display = ["id", "item", "rater", "strength", "all_bad", "created_at"]
    raw_id_fields = ["assignment", "project", "item", "rater"]
    readonly_fields = ["assignment", "project", "item", "rater", "display_order", "assistance_shown", "created_at"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return request.user.is_superuser

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "adjudicator", "updated_at"]
    raw_id_fields = ["item", "adjudicator"]
