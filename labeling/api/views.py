"""Thin API views: validate input, call a service or selector, serialize the result."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assist.selectors import assist_progress
from common.exceptions import PayloadTooLarge
from common.ordering import apply_ordering
from labeling.api.permissions import IsAdmin, IsAdminOrML
from labeling.api.serializers import BatchDetailOutputSerializer, BatchOutputSerializer, ProjectOutputSerializer
from labeling.models import AssistanceMode, Batch, TaskKind
from labeling.selectors import (
    batch_get_for_user,
    batch_list_for_project,
    batch_progress,
    project_get_for_user,
    project_list_for_user,
)
from labeling.services.batch_import import batch_import
from labeling.services.projects import batch_update, project_create

ERROR_RESPONSE = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "errors": serializers.ListField(child=serializers.DictField()),
    },
)


class ProjectListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        instructions = serializers.CharField(required=False, allow_blank=True, default="")
        task_kind = serializers.ChoiceField(choices=TaskKind.choices, default=TaskKind.COMPARISON)
        strength_labels = serializers.ListField(
            child=serializers.CharField(max_length=50), max_length=9, required=False
        )
        flags = serializers.ListField(child=serializers.CharField(max_length=50), max_length=30, required=False)
        rationale_required = serializers.BooleanField(default=False)
        stop_at_first_error = serializers.BooleanField(default=True)
        overlap = serializers.IntegerField(min_value=1, max_value=100, default=1)
        lease_seconds = serializers.IntegerField(min_value=30, max_value=7 * 24 * 3600, default=1800)
        assistance_mode = serializers.ChoiceField(choices=AssistanceMode.choices, default=AssistanceMode.ON)

        def validate_flags(self, value: list[str]) -> list[str]:
            if len(set(value)) != len(value):
                raise serializers.ValidationError("Flags must be unique.")
            return value

    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [IsAdmin()] if self.request.method == "POST" else [IsAuthenticated()]

    ORDERING = {"id", "name", "created_at"}

    @extend_schema(
        parameters=[OpenApiParameter("ordering", str, description="id, name or created_at; '-' for descending")],
        responses=ProjectOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        projects = apply_ordering(
            project_list_for_user(user=request.user),
            request.query_params.get("ordering"),
            allowed=self.ORDERING,
            default=["id"],
        )
        return Response(ProjectOutputSerializer(projects, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ProjectOutputSerializer, 400: ERROR_RESPONSE})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(created_by=request.user, **serializer.validated_data)
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectOutputSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(ProjectOutputSerializer(project).data)


class BatchListCreateApi(APIView):
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        priority = serializers.IntegerField(min_value=-1000, max_value=1000, default=0)
        status = serializers.ChoiceField(choices=Batch.Status.choices, default=Batch.Status.LIVE)

    class CreatedSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        items = serializers.IntegerField()

    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [IsAdmin()] if self.request.method == "POST" else [IsAdminOrML()]

    ORDERING = {"id", "name", "priority", "status", "created_at", "item_count"}

    @extend_schema(
        parameters=[
            OpenApiParameter("ordering", str, description="id, name, priority, status, created_at or item_count")
        ],
        responses=BatchOutputSerializer(many=True),
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        batches = apply_ordering(
            batch_list_for_project(project=project),
            request.query_params.get("ordering"),
            allowed=self.ORDERING,
            default=["-priority", "id"],
        )
        return Response(BatchOutputSerializer(batches, many=True).data)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={201: CreatedSerializer, 400: ERROR_RESPONSE, 413: ERROR_RESPONSE},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        limit = settings.OVERSIGHT_IMPORT_MAX_FILE_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit + 64 * 1024:  # room for the multipart envelope
            raise PayloadTooLarge(f"The upload is larger than the limit of {limit} bytes.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        if upload.size > limit:
            raise PayloadTooLarge(f"The file is larger than the limit of {limit} bytes.")
        batch = batch_import(
            project=project,
            stream=upload.file,
            name=serializer.validated_data.get("name") or upload.name,
            created_by=request.user,
            priority=serializer.validated_data["priority"],
            status=serializer.validated_data["status"],
            source_filename=upload.name,
        )
        return Response({"id": batch.pk, "items": batch.item_count}, status=status.HTTP_201_CREATED)


class BatchDetailApi(APIView):
    class UpdateSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Batch.Status.choices, required=False)
        priority = serializers.IntegerField(min_value=-1000, max_value=1000, required=False)

    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [IsAdmin()] if self.request.method == "PATCH" else [IsAdminOrML()]

    def _out(self, batch: Batch) -> dict:
        batch.progress = batch_progress(batch=batch)
        batch.assistance = assist_progress(batch=batch)
        return BatchDetailOutputSerializer(batch).data

    @extend_schema(responses=BatchDetailOutputSerializer)
    def get(self, request: Request, project_id: int, batch_id: int) -> Response:
        batch = batch_get_for_user(user=request.user, project_id=project_id, batch_id=batch_id)
        return Response(self._out(batch))

    @extend_schema(request=UpdateSerializer, responses=BatchDetailOutputSerializer)
    def patch(self, request: Request, project_id: int, batch_id: int) -> Response:
        batch = batch_get_for_user(user=request.user, project_id=project_id, batch_id=batch_id)
        serializer = self.UpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        batch = batch_update(batch=batch, **serializer.validated_data)
        return Response(self._out(batch))
