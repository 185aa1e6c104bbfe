from django.apps import AppConfig


class TuningConfig(AppConfig):
    """Hyperparameter searches over runs, executed on Ray Tune."""

    name = "tuning"
    verbose_name = "Tuning"
