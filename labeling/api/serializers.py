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


class BatchDetailOutputSerializer(BatchOutputSerializer):
    progress = ProgressSerializer()

    class Meta(BatchOutputSerializer.Meta):
        fields = [*BatchOutputSerializer.Meta.fields, "progress"]
