from django.urls import path

from labeling import views

app_name = "labeling"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("projects/<int:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<int:project_id>/guidelines/", views.guidelines, name="project-guidelines"),
    path("projects/<int:project_id>/label/", views.label, name="label"),
    path("projects/<int:project_id>/upload/", views.batch_upload, name="batch-upload"),
    path("users/new/", views.user_create, name="user-create"),
]
