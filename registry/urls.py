from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("", views.artifact_list, name="artifact-list"),
    path("<int:artifact_id>/", views.artifact_detail, name="artifact-detail"),
    path("versions/<int:version_id>/", views.version_detail, name="version-detail"),
]
