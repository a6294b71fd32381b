from django.urls import path

from labeling.api import rating, views

urlpatterns = [
    path("projects/", views.ProjectListCreateApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", views.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/batches/", views.BatchListCreateApi.as_view(), name="batch-list"),
    path("projects/<int:project_id>/batches/<int:batch_id>/", views.BatchDetailApi.as_view(), name="batch-detail"),
    path("projects/<int:project_id>/next/", rating.NextTaskApi.as_view(), name="next-task"),
    path("assignments/<int:assignment_id>/submit/", rating.SubmitApi.as_view(), name="assignment-submit"),
    path("assignments/<int:assignment_id>/skip/", rating.SkipApi.as_view(), name="assignment-skip"),
]
