from django.urls import path

from tuning import views

app_name = "tuning"

urlpatterns = [
    path("", views.job_list, name="job-list"),
    path("new", views.job_new, name="job-new"),
    path("<int:job_id>/", views.job_detail, name="job-detail"),
    path("<int:job_id>/promote-best", views.job_promote_best, name="job-promote-best"),
    path("<int:job_id>/cancel", views.job_cancel, name="job-cancel"),
]
