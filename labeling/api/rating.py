"""Rater API: next task, submit, skip."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api.permissions import IsRater
from labeling.api.views import ERROR_RESPONSE
from labeling.models import Judgement
from labeling.selectors import assignment_get_for_rater, project_get_for_user, task_payload
from labeling.services.assignment import assignment_claim_next, assignment_skip
from labeling.services.judgement import ComparisonAnswer, judgement_submit


class TaskOutputSerializer(serializers.Serializer):
    assignment = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    item = serializers.DictField()
    responses = serializers.ListField(child=serializers.DictField())
    assists = serializers.ListField(child=serializers.DictField())
    assistance_shown = serializers.BooleanField()


class NextTaskApi(APIView):
    permission_classes = [IsRater]

    class InputSerializer(serializers.Serializer):
        holding = serializers.ListField(
            child=serializers.IntegerField(),
            required=False,
            default=list,
            max_length=10,
            help_text="Assignment ids the client already shows (to preload the next task).",
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: TaskOutputSerializer,
            204: OpenApiResponse(description="Nothing left for you."),
            409: ERROR_RESPONSE,
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = assignment_claim_next(
            project=project, rater=request.user, holding=serializer.validated_data["holding"]
        )
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(task_payload(assignment=assignment))


class JudgementOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Judgement
        fields = [
            "id",
            "assignment",
            "item",
            "ranking",
            "strength",
            "all_bad",
            "flags",
            "rationale",
            "assist_ratings",
            "time_spent_ms",
            "display_order",
            "assistance_shown",
            "created_at",
        ]


class SubmitApi(APIView):
    permission_classes = [IsRater]

    class InputSerializer(serializers.Serializer):
        ranking = serializers.ListField(
            child=serializers.ListField(child=serializers.CharField(max_length=100), min_length=1),
            min_length=1,
            max_length=9,
            help_text='Tiers of response ids, best first; a tier with several ids is a tie: [["b"], ["a", "c"]].',
        )
        strength = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=9)
        all_bad = serializers.BooleanField(default=False)
        flags = serializers.DictField(
            child=serializers.ListField(child=serializers.CharField(max_length=50), max_length=30),
            required=False,
            default=dict,
        )
        rationale = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=10_000, trim_whitespace=False
        )
        assist_ratings = serializers.DictField(child=serializers.JSONField(), required=False, default=dict)
        time_spent_ms = serializers.IntegerField(
            required=False, allow_null=True, min_value=0, max_value=24 * 3600 * 1000
        )

    class OutputSerializer(serializers.Serializer):
        judgement = JudgementOutputSerializer()

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer, 400: ERROR_RESPONSE, 409: ERROR_RESPONSE},
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_rater(user=request.user, assignment_id=assignment_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        judgement, created = judgement_submit(
            assignment=assignment, answer=ComparisonAnswer(**serializer.validated_data)
        )
        return Response(
            {"judgement": JudgementOutputSerializer(judgement).data},
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SkipApi(APIView):
    permission_classes = [IsRater]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(
        request=InputSerializer, responses={200: OpenApiResponse(description="Skipped."), 400: ERROR_RESPONSE}
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_rater(user=request.user, assignment_id=assignment_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = assignment_skip(assignment=assignment, reason=serializer.validated_data["reason"])
        return Response({"assignment": assignment.pk, "status": assignment.status})
