from django.urls import path

from rewardmodel import views

app_name = "rewardmodel"

urlpatterns = [
    path("exports/", views.export_list, name="exports"),
    path("exports/<int:snapshot_id>/", views.export_detail, name="export-detail"),
    path("reward-models/", views.reward_model_list, name="reward-models"),
    path("reward-models/<int:run_id>/", views.reward_model_detail, name="reward-model-detail"),
    path("reward-models/<int:run_id>/score/", views.reward_model_score, name="reward-model-score"),
    path(
        "reward-models/<int:run_id>/disagreements/",
        views.reward_model_disagreements,
        name="reward-model-disagreements",
    ),
]
