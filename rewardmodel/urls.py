from django.urls import path

from rewardmodel import views

app_name = "rewardmodel"

urlpatterns = [
    path("exports/", views.export_list, name="exports"),
    path("exports/<int:snapshot_id>/", views.export_detail, name="export-detail"),
]
