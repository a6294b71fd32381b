from django.urls import path

from rewardmodel.api import views

urlpatterns = [
    path("exports/", views.ExportListCreateApi.as_view(), name="export-list"),
    path("exports/<int:snapshot_id>/", views.ExportDetailApi.as_view(), name="export-detail"),
    path("exports/<int:snapshot_id>/download/", views.ExportDownloadApi.as_view(), name="export-download"),
    path("reward-models/", views.RewardModelListCreateApi.as_view(), name="reward-model-list"),
    path("reward-models/<int:run_id>/", views.RewardModelDetailApi.as_view(), name="reward-model-detail"),
    path("reward-models/<int:run_id>/score/", views.RewardModelScoreApi.as_view(), name="reward-model-score"),
    path(
        "reward-models/<int:run_id>/disagreements/",
        views.RewardModelDisagreementsApi.as_view(),
        name="reward-model-disagreements",
    ),
    path("reward-models/<int:run_id>/scores/", views.RewardModelScoresApi.as_view(), name="reward-model-scores"),
]
