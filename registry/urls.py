from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("", views.artifact_list, name="artifact-list"),
    path("new", views.artifact_new, name="artifact-new"),
    path("<int:artifact_id>/", views.artifact_detail, name="artifact-detail"),
    path("<int:artifact_id>/promote", views.artifact_promote, name="artifact-promote"),
    path("<int:artifact_id>/repo-id", views.artifact_repo_id, name="artifact-repo-id"),
    path("versions/<int:version_id>/", views.version_detail, name="version-detail"),
    path("versions/<int:version_id>/tags", views.version_tags, name="version-tags"),
    path("versions/<int:version_id>/verify", views.version_verify, name="version-verify"),
]
