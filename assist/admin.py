from django.contrib import admin

from assist.models import AssistArtifact, PromptTemplate
from assist.services.generation import prompt_template_revise


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    """Templates are versioned: saving a changed template creates the next version; old ones stay."""

    list_display = ["kind", "version", "is_active", "created_by", "created_at"]
    list_filter = ["kind", "is_active"]
    fields = ["kind", "system", "template", "is_active"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change and {"system", "template", "kind"} & set(form.changed_data):
            new = prompt_template_revise(
                kind=obj.kind, system=obj.system, template=obj.template, created_by=request.user
            )
            obj.pk, obj.version = new.pk, new.version
            return
        if not change:
            new = prompt_template_revise(
                kind=obj.kind, system=obj.system, template=obj.template, created_by=request.user
            )
            obj.pk, obj.version = new.pk, new.version
            return
        PromptTemplate.objects.filter(pk=obj.pk).update(is_active=obj.is_active)


@admin.register(AssistArtifact)
class AssistArtifactAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "item", "response", "model_id", "status", "latency_ms", "finished_at"]
    list_filter = ["kind", "status", "model_id"]
    raw_id_fields = ["item", "response", "template"]
    readonly_fields = ["settings", "latency_ms", "prompt_tokens", "completion_tokens", "attempts"]
    show_full_result_count = False
