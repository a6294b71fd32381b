from django.urls import path

from rewardmodel.api import views

urlpatterns = [
    path("exports/", views.ExportListCreateApi.as_view(), name="export-list"),
    path("exports/<int:snapshot_id>/", views.ExportDetailApi.as_view(), name="export-detail"),
    path("exports/<int:snapshot_id>/download/", views.ExportDownloadApi.as_view(), name="export-download"),
]
