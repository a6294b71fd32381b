from django.urls import path

from labeling.api import quality, rating, views

urlpatterns = [
    path("projects/", views.ProjectListCreateApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", views.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/batches/", views.BatchListCreateApi.as_view(), name="batch-list"),
    path("projects/<int:project_id>/batches/<int:batch_id>/", views.BatchDetailApi.as_view(), name="batch-detail"),
    path("projects/<int:project_id>/next/", rating.NextTaskApi.as_view(), name="next-task"),
    path("assignments/<int:assignment_id>/submit/", rating.SubmitApi.as_view(), name="assignment-submit"),
    path("assignments/<int:assignment_id>/skip/", rating.SkipApi.as_view(), name="assignment-skip"),
    path("projects/<int:project_id>/stats/", quality.ProjectStatsApi.as_view(), name="project-stats"),
    path(
        "projects/<int:project_id>/raters/<int:rater_id>/reinstate/",
        quality.RaterReinstateApi.as_view(),
        name="rater-reinstate",
    ),
    path(
        "projects/<int:project_id>/items/<int:item_id>/adjudication/",
        quality.AdjudicationApi.as_view(),
        name="item-adjudication",
    ),
]
