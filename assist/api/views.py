from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assist.selectors import assistance_report
from assist.services.generation import assist_schedule_batch
from labeling.api.permissions import IsAdmin, IsAdminOrML
from labeling.selectors import batch_get_for_user, project_get_for_user


class BatchAssistApi(APIView):
    """Queue assistance for an existing batch: generates what is missing or failed, nothing else."""

    permission_classes = [IsAdmin]

    @extend_schema(
        request=None, responses={202: inline_serializer("AssistQueued", {"batch": serializers.IntegerField()})}
    )
    def post(self, request: Request, project_id: int, batch_id: int) -> Response:
        batch = batch_get_for_user(user=request.user, project_id=project_id, batch_id=batch_id)
        assist_schedule_batch(batch=batch)
        return Response({"batch": batch.pk}, status=status.HTTP_202_ACCEPTED)


class AssistanceReportApi(APIView):
    """Compare the assisted and unassisted arms of a project (counts and 95% confidence intervals)."""

    permission_classes = [IsAdminOrML]

    @extend_schema(responses={200: inline_serializer("AssistanceReport", {"arms": serializers.ListField()})})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(assistance_report(project=project))
