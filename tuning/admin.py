from django.contrib import admin

from tuning.models import TuningJob, TuningTrial


class TuningTrialInline(admin.TabularInline):
    model = TuningTrial
    fields = ["ray_trial_id", "params", "status", "metric_value", "run"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TuningJob)
class TuningJobAdmin(admin.ModelAdmin):
    """Tuning jobs with their trials; results are written by the worker, not edited here."""

    list_display = ["name", "trainer", "metric", "mode", "status", "num_samples", "created_at"]
    list_filter = ["status", "mode", "trainer"]
    search_fields = ["name", "trainer"]
    readonly_fields = ["status", "best_trial", "error", "started_at", "finished_at", "created_at"]
    inlines = [TuningTrialInline]


@admin.register(TuningTrial)
class TuningTrialAdmin(admin.ModelAdmin):
    list_display = ["__str__", "job", "status", "metric_value", "run"]
    list_filter = ["status"]
    search_fields = ["job__name", "ray_trial_id"]
    list_select_related = ["job", "run"]
    readonly_fields = ["job", "run", "params", "status", "metric_value", "ray_trial_id"]
