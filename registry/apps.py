from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """The model registry: artifacts, immutable versions and their content-addressed files."""

    name = "registry"
    verbose_name = "Model registry"
