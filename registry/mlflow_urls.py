"""MLflow model-registry REST API routes, read side, mounted under `/api/` (registry/mlflow.py).

Every other path under `2.0/mlflow/`, `2.0/mlflow-artifacts/` and `3.0/mlflow/` (writes too)
answers MLflow's ENDPOINT_NOT_FOUND as JSON, never an HTML page.
"""

from django.urls import path, re_path

from registry import mlflow

app_name = "mlflow"

REGISTRY = "2.0/mlflow/"

urlpatterns = [
    path(
        f"{REGISTRY}registered-models/search",
        mlflow.SearchRegisteredModelsView.as_view(),
        name="registered-models-search",
    ),
    path(
        f"{REGISTRY}registered-models/get",
        mlflow.GetRegisteredModelView.as_view(),
        name="registered-models-get",
    ),
    path(
        f"{REGISTRY}registered-models/get-latest-versions",
        mlflow.GetLatestVersionsView.as_view(),
        name="registered-models-get-latest-versions",
    ),
    path(
        f"{REGISTRY}registered-models/alias",
        mlflow.GetModelVersionByAliasView.as_view(),
        name="registered-models-alias",
    ),
    path(
        f"{REGISTRY}model-versions/get",
        mlflow.GetModelVersionView.as_view(),
        name="model-versions-get",
    ),
    path(
        f"{REGISTRY}model-versions/search",
        mlflow.SearchModelVersionsView.as_view(),
        name="model-versions-search",
    ),
    path(
        f"{REGISTRY}model-versions/get-download-uri",
        mlflow.GetDownloadUriView.as_view(),
        name="model-versions-get-download-uri",
    ),
    path(
        "2.0/mlflow-artifacts/artifacts", mlflow.ListArtifactsView.as_view(), name="artifacts-list"
    ),
    re_path(
        r"^2\.0/mlflow-artifacts/artifacts/(?P<path>.+)$",
        mlflow.DownloadArtifactView.as_view(),
        name="artifacts-download",
    ),
    path("3.0/mlflow/server-info", mlflow.server_info, name="server-info"),
    re_path(
        r"^(?P<path>(?:2\.0/mlflow|2\.0/mlflow-artifacts|3\.0/mlflow)(?:/.*)?)$",
        mlflow.unknown_route,
        name="unknown",
    ),
]
