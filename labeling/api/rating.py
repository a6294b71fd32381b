"""Rater API: next task, submit, skip."""

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assist.selectors import assists_for_item
from labeling.api.permissions import IsRater
from labeling.api.views import ERROR_RESPONSE
from labeling.models import Judgement, TaskKind
from labeling.selectors import assignment_get_for_rater, project_get_for_user, task_payload
from labeling.services.assignment import assignment_claim_next, assignment_record_assists, assignment_skip
from labeling.services.judgement import ComparisonAnswer, CritiqueAnswer, StepsAnswer, judgement_submit


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
        assists = assists_for_item(item_id=assignment.item_id) if assignment.assistance_shown else []
        assignment_record_assists(assignment=assignment, artifact_ids=[a["id"] for a in assists])
        return Response(task_payload(assignment=assignment, assists=assists))


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
            "flaws",
            "no_flaws",
            "quality",
            "critique_ratings",
            "step_labels",
            "finish_reason",
            "time_spent_ms",
            "display_order",
            "assistance_shown",
            "created_at",
        ]


class ComparisonSubmitSerializer(serializers.Serializer):
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
    rationale = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    assist_ratings = serializers.DictField(
        child=serializers.JSONField(), required=False, default=dict, help_text="{assist id: helpfulness 1-7}"
    )
    time_spent_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=86_400_000)


class FlawSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=5000)
    severity = serializers.ChoiceField(choices=["minor", "major", "critical"])
    start = serializers.IntegerField(required=False, min_value=0, help_text="Character offset into the response.")
    end = serializers.IntegerField(required=False, min_value=0)
    quote = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class CritiqueRatingSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    helpfulness = serializers.IntegerField(min_value=1, max_value=7)


class CritiqueSubmitSerializer(serializers.Serializer):
    quality = serializers.IntegerField(min_value=1, max_value=7, help_text="Overall quality of the response.")
    flaws = FlawSerializer(many=True, required=False, default=list, max_length=100)
    no_flaws = serializers.BooleanField(default=False, help_text="True when you found no flaw.")
    critique_ratings = serializers.DictField(
        child=CritiqueRatingSerializer(), required=False, default=dict, help_text="{AI critique id: rating}"
    )
    rationale = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    time_spent_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=86_400_000)


class StepsSubmitSerializer(serializers.Serializer):
    step_labels = serializers.ListField(
        child=serializers.IntegerField(min_value=-1, max_value=1), max_length=500, help_text="-1 / 0 / +1 per step."
    )
    finish_reason = serializers.ChoiceField(choices=["found_error", "solution", "bad_problem", "give_up"])
    rationale = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    time_spent_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=86_400_000)


SUBMIT_SERIALIZERS = {
    TaskKind.COMPARISON: (ComparisonSubmitSerializer, ComparisonAnswer),
    TaskKind.CRITIQUE: (CritiqueSubmitSerializer, CritiqueAnswer),
    TaskKind.STEPS: (StepsSubmitSerializer, StepsAnswer),
}


class SubmitApi(APIView):
    """Submit the answer to an assignment; the payload's shape follows the project's task kind."""

    permission_classes = [IsRater]

    class OutputSerializer(serializers.Serializer):
        judgement = JudgementOutputSerializer()

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="SubmitPayload",
            serializers=[ComparisonSubmitSerializer, CritiqueSubmitSerializer, StepsSubmitSerializer],
            resource_type_field_name=None,
        ),
        responses={201: OutputSerializer, 200: OutputSerializer, 400: ERROR_RESPONSE, 409: ERROR_RESPONSE},
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_rater(user=request.user, assignment_id=assignment_id)
        serializer_class, answer_class = SUBMIT_SERIALIZERS[assignment.project.task_kind]
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        judgement, created = judgement_submit(assignment=assignment, answer=answer_class(**serializer.validated_data))
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
