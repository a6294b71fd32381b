from django.urls import path

from assist import views

app_name = "assist"

urlpatterns = [
    path("projects/<int:project_id>/assistance/", views.report, name="report"),
    path("projects/<int:project_id>/batches/<int:batch_id>/assist/", views.batch_generate, name="batch-generate"),
]
