from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("", views.artifact_list, name="artifact-list"),
    path("new", views.artifact_new, name="artifact-new"),
    path("promote", views.run_promote, name="run-promote"),
    path("<int:artifact_id>/", views.artifact_detail, name="artifact-detail"),
    path("<int:artifact_id>/promote", views.artifact_promote, name="artifact-promote"),
    path("<int:artifact_id>/repo-id", views.artifact_repo_id, name="artifact-repo-id"),
    path("<int:artifact_id>/aliases", views.alias_point, name="alias-point"),
    path("<int:artifact_id>/aliases/<str:alias>/remove", views.alias_remove, name="alias-remove"),
    path("<int:artifact_id>/aliases/<str:alias>/gates", views.alias_gates, name="alias-gates"),
    path(
        "<int:artifact_id>/versions/<str:revision>", views.version_by_label, name="version-by-label"
    ),
    path("versions/<int:version_id>/", views.version_detail, name="version-detail"),
    path("versions/<int:version_id>/tags", views.version_tags, name="version-tags"),
    path("versions/<int:version_id>/verify", views.version_verify, name="version-verify"),
]
