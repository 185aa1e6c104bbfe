"""The one API router: every app's viewsets are registered here."""

from rest_framework.routers import DefaultRouter

from registry.api import ModelArtifactViewSet, ModelVersionViewSet
from runs.api import TunixRunViewSet
from tuning.api import TuningJobViewSet


class OptionalSlashRouter(DefaultRouter):
    """Routes that answer with or without a trailing slash (`/api/models` and `/api/runs/`)."""

    # Format suffixes would read `files/config.json` as `files/config` in JSON format.
    include_format_suffixes = False

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("runs", TunixRunViewSet, basename="run")
# Versions first: /api/models/versions/... must not be read as an artifact id.
router.register("models/versions", ModelVersionViewSet, basename="modelversion")
router.register("models", ModelArtifactViewSet, basename="modelartifact")
router.register("tuning/jobs", TuningJobViewSet, basename="tuningjob")
