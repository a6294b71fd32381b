from django.urls import path

from labeling.api import views

urlpatterns = [
    path("projects/", views.ProjectListCreateApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", views.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/batches/", views.BatchListCreateApi.as_view(), name="batch-list"),
    path("projects/<int:project_id>/batches/<int:batch_id>/", views.BatchDetailApi.as_view(), name="batch-detail"),
]
