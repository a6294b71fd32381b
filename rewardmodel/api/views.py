"""Export and reward-model API: ML staff define and build snapshots, train reward models on them and score
batches; admins and ML staff of a project read the scores and disagreements of its scored batches."""

from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.exceptions import ApplicationError
from labeling.api.permissions import IsAdminOrML, IsML
from labeling.api.views import ERROR_RESPONSE
from rewardmodel.archive import zip_stream
from rewardmodel.formats import format_choices
from rewardmodel.models import BatchScoring, DatasetSnapshot, TrainingRun
from rewardmodel.score_export import SCORE_FORMATS, csv_chunks, jsonl_chunks
from rewardmodel.selectors import (
    batch_scoring_get_for_user,
    disagreement_list,
    score_rows,
    snapshot_get_for_user,
    snapshot_list_for_user,
    training_run_get_for_user,
    training_run_list_for_user,
)
from rewardmodel.services.scoring import batch_scoring_request
from rewardmodel.services.snapshots import (
    AGGREGATIONS,
    MARGIN_RULES,
    TIE_POLICIES,
    ExportDefinition,
    snapshot_create,
)
from rewardmodel.services.training import training_run_create
from rewardmodel.training.model import BUNDLED_MINILM
from rewardmodel.training.trainer import TrainConfig


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


# Reward models ------------------------------------------------------------------------------------------


class TrainingRunOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    model_path = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "name",
            "snapshot",
            "status",
            "config",
            "progress",
            "loss_curve",
            "metrics",
            "summary",
            "error",
            "attempts",
            "model_path",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_model_path(self, run: TrainingRun) -> str | None:
        """The checkpoint folder on the server (for workers and scripts that share MEDIA_ROOT)."""
        return str(run.model_directory) if run.status == TrainingRun.Status.DONE else None


class TrainingRunListOutputSerializer(TrainingRunOutputSerializer):
    class Meta(TrainingRunOutputSerializer.Meta):
        fields = [f for f in TrainingRunOutputSerializer.Meta.fields if f != "loss_curve"]


class BatchScoringOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = BatchScoring
        fields = ["id", "run", "batch", "status", "responses_scored", "error", "created_at", "finished_at"]


def _batch_param(request: Request) -> int:
    value = request.query_params.get("batch", "")
    if not value.isdigit():
        raise ApplicationError(
            "Name the scored batch: ?batch=ID.", code="invalid", errors=[{"field": "batch", "message": "required"}]
        )
    return int(value)


def _done_scoring(request: Request, run_id: int) -> BatchScoring:
    scoring = batch_scoring_get_for_user(user=request.user, run_id=run_id, batch_id=_batch_param(request))
    if scoring.status != BatchScoring.Status.DONE:
        raise ApplicationError(
            f"Scoring this batch is {scoring.status}; results are ready once it is done.",
            code="not_ready",
            status_code=409,
        )
    return scoring


class RewardModelListCreateApi(APIView):
    permission_classes = [IsML]

    class InputSerializer(serializers.Serializer):
        snapshot = serializers.IntegerField(min_value=1, help_text="A done trl-jsonl or parquet export of yours.")
        name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        base_model = serializers.CharField(
            max_length=500, default=BUNDLED_MINILM, help_text="bundled:minilm, a hub id or a local model folder."
        )
        max_length = serializers.IntegerField(default=TrainConfig.max_length)
        batch_size = serializers.IntegerField(default=TrainConfig.batch_size, help_text="Pairs per step.")
        learning_rate = serializers.FloatField(default=TrainConfig.learning_rate)
        epochs = serializers.IntegerField(default=TrainConfig.epochs)
        seed = serializers.IntegerField(default=TrainConfig.seed)
        use_margin = serializers.BooleanField(default=TrainConfig.use_margin)
        dropout = serializers.BooleanField(default=TrainConfig.dropout, help_text="Train with the model's dropout.")
        warmup_ratio = serializers.FloatField(default=TrainConfig.warmup_ratio)
        checkpoint_every = serializers.IntegerField(default=TrainConfig.checkpoint_every)

    @extend_schema(responses=TrainingRunListOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        runs = training_run_list_for_user(user=request.user).select_related("created_by")[:200]
        return Response(TrainingRunListOutputSerializer(runs, many=True).data)

    @extend_schema(request=InputSerializer, responses={202: TrainingRunOutputSerializer, 400: ERROR_RESPONSE})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        snapshot_id, name = data.pop("snapshot"), data.pop("name")
        run = training_run_create(
            snapshot_id=snapshot_id, config=TrainConfig(**data), created_by=request.user, name=name
        )
        return Response(TrainingRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RewardModelDetailApi(APIView):
    permission_classes = [IsML]

    @extend_schema(responses=TrainingRunOutputSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run = training_run_get_for_user(user=request.user, run_id=run_id)
        return Response(TrainingRunOutputSerializer(run).data)


class RewardModelScoreApi(APIView):
    permission_classes = [IsML]

    class InputSerializer(serializers.Serializer):
        batch = serializers.IntegerField(min_value=1)

    @extend_schema(request=InputSerializer, responses={202: BatchScoringOutputSerializer, 409: ERROR_RESPONSE})
    def post(self, request: Request, run_id: int) -> Response:
        run = training_run_get_for_user(user=request.user, run_id=run_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        scoring = batch_scoring_request(run=run, batch_id=serializer.validated_data["batch"], requested_by=request.user)
        return Response(BatchScoringOutputSerializer(scoring).data, status=status.HTTP_202_ACCEPTED)


class RewardModelDisagreementsApi(APIView):
    """Admins and ML staff of the batch's project, once the run has scored the batch."""

    permission_classes = [IsAdminOrML]

    class OutputSerializer(serializers.Serializer):
        item_id = serializers.IntegerField()
        external_id = serializers.CharField()
        human_chosen = serializers.CharField()
        human_rejected = serializers.CharField()
        votes_for = serializers.IntegerField()
        votes = serializers.IntegerField()
        reward_margin = serializers.FloatField()
        scores = serializers.DictField(child=serializers.FloatField())

    @extend_schema(
        parameters=[
            OpenApiParameter("batch", int, required=True),
            OpenApiParameter("limit", int, description="At most this many items (default 100, max 1000)."),
        ],
        responses={200: OutputSerializer(many=True), 409: ERROR_RESPONSE},
    )
    def get(self, request: Request, run_id: int) -> Response:
        scoring = _done_scoring(request, run_id)
        limit = request.query_params.get("limit", "100")
        limit = min(int(limit), 1000) if limit.isdigit() and int(limit) > 0 else 100
        rows = disagreement_list(scoring=scoring, limit=limit)
        return Response(self.OutputSerializer(rows, many=True).data)


class _FormatIsOurs(BaseContentNegotiation):
    """`?format=` names the file format here, not a DRF renderer: errors still render as JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):  # type: ignore[no-untyped-def]
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):  # type: ignore[no-untyped-def]
        return parsers[0]


class RewardModelScoresApi(APIView):
    """The scores of a scored batch as JSONL (default) or CSV; same access as the disagreements."""

    permission_classes = [IsAdminOrML]
    content_negotiation_class = _FormatIsOurs

    @extend_schema(
        parameters=[
            OpenApiParameter("batch", int, required=True),
            OpenApiParameter("format", str, enum=list(SCORE_FORMATS), description="jsonl (default) or csv."),
        ],
        responses={(200, "application/octet-stream"): OpenApiResponse(description="The scores."), 409: ERROR_RESPONSE},
    )
    def get(self, request: Request, run_id: int) -> StreamingHttpResponse:
        file_format = request.query_params.get("format", "jsonl")
        if file_format not in SCORE_FORMATS:
            raise ApplicationError(
                "Unknown format.", code="invalid", errors=[{"field": "format", "message": "jsonl or csv"}]
            )
        scoring = _done_scoring(request, run_id)
        rows = score_rows(scoring=scoring)
        name = f"reward-model-{scoring.run_id}-batch-{scoring.batch_id}.{file_format}"
        if file_format == "csv":
            response = StreamingHttpResponse(csv_chunks(rows), content_type="text/csv; charset=utf-8")
        else:
            response = StreamingHttpResponse(
                jsonl_chunks(rows, run_id=scoring.run_id), content_type="application/x-ndjson"
            )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
