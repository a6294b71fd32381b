"""Export API for ML staff: define and build a snapshot, see its status, download its files."""

from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.exceptions import ApplicationError
from labeling.api.permissions import IsML
from labeling.api.views import ERROR_RESPONSE
from rewardmodel.archive import zip_stream
from rewardmodel.formats import format_choices
from rewardmodel.models import DatasetSnapshot
from rewardmodel.selectors import snapshot_get_for_user, snapshot_list_for_user
from rewardmodel.services.snapshots import (
    AGGREGATIONS,
    MARGIN_RULES,
    TIE_POLICIES,
    ExportDefinition,
    snapshot_create,
)


class SnapshotOutputSerializer(serializers.ModelSerializer):
    format = serializers.CharField(source="export_format")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    rows = serializers.IntegerField(source="total_rows")

    class Meta:
        model = DatasetSnapshot
        fields = [
            "id",
            "name",
            "format",
            "status",
            "definition",
            "rows",
            "counts",
            "stats",
            "files",
            "content_hash",
            "progress_rows",
            "judgements_total",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]


class ExportListCreateApi(APIView):
    permission_classes = [IsML]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        format = serializers.ChoiceField(choices=format_choices(), default="trl-jsonl")
        projects = serializers.ListField(
            child=serializers.IntegerField(min_value=1), required=False, default=list, max_length=1000
        )
        batches = serializers.ListField(
            child=serializers.IntegerField(min_value=1), required=False, default=list, max_length=10_000
        )
        exclude_gold = serializers.BooleanField(default=False)
        exclude_all_bad = serializers.BooleanField(default=False)
        exclude_flags = serializers.ListField(
            child=serializers.CharField(max_length=50), required=False, default=list, max_length=50
        )
        min_rater_gold_accuracy = serializers.FloatField(
            min_value=0.0, max_value=1.0, required=False, allow_null=True, default=None
        )
        min_item_agreement = serializers.FloatField(
            min_value=0.0, max_value=1.0, required=False, allow_null=True, default=None
        )
        aggregation = serializers.ChoiceField(choices=AGGREGATIONS, default="every")
        ties = serializers.ChoiceField(choices=TIE_POLICIES, default="drop")
        use_reference = serializers.BooleanField(
            default=False, help_text="Label items with their imported reference (e.g. HH-RLHF's preference)."
        )
        margin = serializers.ChoiceField(choices=MARGIN_RULES, default="strength")
        test_fraction = serializers.FloatField(min_value=0.0, max_value=0.99, default=0.1)
        seed = serializers.IntegerField(min_value=0, max_value=2**62, default=0)
        license = serializers.CharField(max_length=64, default="unknown")

    @extend_schema(responses=SnapshotOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        snapshots = snapshot_list_for_user(user=request.user).select_related("created_by")[:200]
        return Response(SnapshotOutputSerializer(snapshots, many=True).data)

    @extend_schema(request=InputSerializer, responses={202: SnapshotOutputSerializer, 400: ERROR_RESPONSE})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        name = data.pop("name")
        snapshot = snapshot_create(definition=ExportDefinition.from_dict(data), created_by=request.user, name=name)
        return Response(SnapshotOutputSerializer(snapshot).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    permission_classes = [IsML]

    @extend_schema(responses=SnapshotOutputSerializer)
    def get(self, request: Request, snapshot_id: int) -> Response:
        snapshot = snapshot_get_for_user(user=request.user, snapshot_id=snapshot_id)
        return Response(SnapshotOutputSerializer(snapshot).data)


class ExportDownloadApi(APIView):
    permission_classes = [IsML]

    @extend_schema(
        parameters=[
            OpenApiParameter("file", str, description="One file of the snapshot (e.g. train.jsonl); default: a zip.")
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="The file, or a zip of all files."),
            409: ERROR_RESPONSE,
        },
    )
    def get(self, request: Request, snapshot_id: int) -> FileResponse | StreamingHttpResponse:
        snapshot = snapshot_get_for_user(user=request.user, snapshot_id=snapshot_id)
        if snapshot.status != DatasetSnapshot.Status.DONE:
            raise ApplicationError(
                f"This export is {snapshot.status}; files are ready once it is done.", code="not_ready", status_code=409
            )
        names = [entry["name"] for entry in snapshot.files]
        wanted = request.query_params.get("file")
        if wanted:
            if wanted not in names:  # only names the snapshot recorded: no paths from the request
                raise ApplicationError(
                    f"This export has no file {wanted!r}.",
                    code="not_found",
                    status_code=404,
                    errors=[{"field": "file", "message": f"one of {', '.join(names)}"}],
                )
            return FileResponse((snapshot.directory / wanted).open("rb"), as_attachment=True, filename=wanted)
        folder = f"oversight-export-{snapshot.pk}"
        response = StreamingHttpResponse(
            zip_stream(directory=snapshot.directory, names=names, folder=folder), content_type="application/zip"
        )
        response["Content-Disposition"] = f'attachment; filename="{folder}.zip"'
        return response
