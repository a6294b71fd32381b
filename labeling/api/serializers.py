"""Output shapes shared by several views. Serializers only shape data; they never save."""

from rest_framework import serializers

from labeling.models import Batch, Project


class ProjectOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "instructions",
            "task_kind",
            "strength_labels",
            "flags",
            "rationale_required",
            "stop_at_first_error",
            "overlap",
            "lease_seconds",
            "assistance_mode",
            "created_at",
        ]


class ProgressSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    complete = serializers.IntegerField()
    started = serializers.IntegerField()
    leased = serializers.IntegerField()
    judgements = serializers.IntegerField()
    judgements_target = serializers.IntegerField()
    percent = serializers.FloatField()


class BatchOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Batch
        fields = ["id", "project", "name", "status", "priority", "item_count", "source_filename", "created_at"]


class AssistanceProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    running = serializers.IntegerField()
    pending = serializers.IntegerField()


class BatchDetailOutputSerializer(BatchOutputSerializer):
    progress = ProgressSerializer()
    assistance = AssistanceProgressSerializer()

    class Meta(BatchOutputSerializer.Meta):
        fields = [*BatchOutputSerializer.Meta.fields, "progress", "assistance"]
