from django.urls import path

from assist.api import views

urlpatterns = [
    path(
        "projects/<int:project_id>/batches/<int:batch_id>/assist/", views.BatchAssistApi.as_view(), name="batch-assist"
    ),
    path("projects/<int:project_id>/assistance-report/", views.AssistanceReportApi.as_view(), name="assistance-report"),
]
