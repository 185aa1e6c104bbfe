"""URL configuration: pages, the admin, auth views, the API and its schema."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api import router


def favicon(request):
    """Send browsers that ask for /favicon.ico (the admin's pages do) to the static icon."""
    return redirect(static("favicon.ico"), permanent=True)


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("", RedirectView.as_view(pattern_name="runs:run-list", permanent=False), name="home"),
    path("runs/", include("runs.urls")),
    path("registry/", include("registry.urls")),
    path("tuning/", include("tuning.urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # MLflow's model-registry REST API, read side: clients set MLFLOW_TRACKING_URI=http://host:8000.
    path("api/", include("registry.mlflow_urls")),
    path("api/", include(router.urls)),
    # The Hugging Face Hub file protocol: clients set HF_ENDPOINT=http://host:8000/hf.
    path("hf/", include("registry.hub_urls")),
]

handler404 = "config.http_errors.not_found"
handler500 = "config.http_errors.server_error"
