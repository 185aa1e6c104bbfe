from django.contrib import admin

from runs.models import TunixRun


@admin.register(TunixRun)
class TunixRunAdmin(admin.ModelAdmin):
    """Runs for curators: filter by status and evaluation, search by name, id and dataset.

    The status is read-only: only the life cycle (worker, API, commands) moves it, with its
    timestamps; a form that set it would skip those rules.
    """

    list_display = ["name", "status", "eval_status", "base_model_id", "created_at", "finished_at"]
    list_filter = ["status", "eval_status", "created_at"]
    search_fields = ["name", "=id", "base_model_id", "dataset_id", "git_sha"]
    readonly_fields = ["id", "status", "created_at", "updated_at", "started_at", "finished_at"]
    date_hierarchy = "created_at"
