from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common.auth import RateLimitedLoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", RateLimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include(("labeling.api.urls", "labeling-api"))),
    path("api/v1/", include(("rewardmodel.api.urls", "rewardmodel-api"))),
    path("api/v1/", include(("assist.api.urls", "assist-api"))),
    path("", include("labeling.urls")),
    path("", include("rewardmodel.urls")),
    path("", include("assist.urls")),
]
