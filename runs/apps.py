from django.apps import AppConfig


class RunsConfig(AppConfig):
    """Tunix post-training runs and their output directories."""

    name = "runs"
    verbose_name = "Runs"
