"""Quality API: the stored statistics snapshot, rater reinstatement, adjudication."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api.permissions import IsAdmin, IsAdminOrML
from labeling.api.views import ERROR_RESPONSE
from labeling.models import Item, ProjectStats
from labeling.selectors import project_get_for_user
from labeling.services.quality import adjudication_record, project_stats_schedule, rater_reinstate


class ProjectStatsApi(APIView):
    """Agreement, rater quality, position bias, progress and ETA, as last computed (one query)."""

    permission_classes = [IsAdminOrML]

    @extend_schema(
        responses={
            200: inline_serializer(
                "ProjectStats",
                {
                    "computed_at": serializers.DateTimeField(),
                    "judgement_count": serializers.IntegerField(),
                    "data": serializers.DictField(),
                },
            ),
            202: OpenApiResponse(description="Not computed yet; a computation was queued."),
        }
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        stats = ProjectStats.objects.filter(project=project).first()
        if stats is None:
            project_stats_schedule(project_id=project.pk)
            return Response({"detail": "Statistics are being computed."}, status=status.HTTP_202_ACCEPTED)
        return Response(
            {"computed_at": stats.computed_at, "judgement_count": stats.judgement_count, "data": stats.data}
        )


class RaterReinstateApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(request=None, responses={200: OpenApiResponse(description="Reinstated."), 404: ERROR_RESPONSE})
    def post(self, request: Request, project_id: int, rater_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        quality = rater_reinstate(project=project, rater_id=rater_id, by=request.user)
        return Response({"rater": quality.rater_id, "suspended": quality.suspended})


class AdjudicationApi(APIView):
    permission_classes = [IsAdmin]

    class InputSerializer(serializers.Serializer):
        ranking = serializers.ListField(
            child=serializers.ListField(child=serializers.CharField(max_length=100), min_length=1), min_length=1
        )
        strength = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=9)
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)

    @extend_schema(
        request=InputSerializer, responses={200: OpenApiResponse(description="Recorded."), 400: ERROR_RESPONSE}
    )
    def post(self, request: Request, project_id: int, item_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        item = get_object_or_404(Item, pk=item_id, batch__project=project)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        adjudication = adjudication_record(item=item, adjudicator=request.user, **serializer.validated_data)
        return Response({"item": item.pk, "ranking": adjudication.ranking, "strength": adjudication.strength})
