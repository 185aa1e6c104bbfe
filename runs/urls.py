from django.urls import path

from runs import views

app_name = "runs"

urlpatterns = [
    path("", views.run_list, name="run-list"),
    path("launch", views.run_launch, name="run-launch"),
    path("<uuid:run_id>/", views.run_detail, name="run-detail"),
]
