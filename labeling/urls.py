from django.urls import path

from labeling import quality_views, views

app_name = "labeling"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("projects/<int:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<int:project_id>/guidelines/", views.guidelines, name="project-guidelines"),
    path("projects/<int:project_id>/label/", views.label, name="label"),
    path("projects/<int:project_id>/upload/", views.batch_upload, name="batch-upload"),
    path("users/new/", views.user_create, name="user-create"),
    path("projects/<int:project_id>/dashboard/", quality_views.dashboard, name="dashboard"),
    path("projects/<int:project_id>/dashboard/refresh/", quality_views.dashboard_refresh, name="dashboard-refresh"),
    path(
        "projects/<int:project_id>/raters/<int:rater_id>/reinstate/",
        quality_views.rater_reinstate_view,
        name="rater-reinstate",
    ),
    path("projects/<int:project_id>/adjudication/", quality_views.adjudication_list, name="adjudication-list"),
    path(
        "projects/<int:project_id>/adjudication/<int:item_id>/",
        quality_views.adjudication_detail,
        name="adjudication-detail",
    ),
    path(
        "projects/<int:project_id>/batches/<int:batch_id>/control/", quality_views.batch_control, name="batch-control"
    ),
    path("projects/<int:project_id>/members/", quality_views.members, name="members"),
]
