"""The one API router: every app's viewsets are registered here."""

from rest_framework.routers import DefaultRouter

from runs.api import TunixRunViewSet

router = DefaultRouter(trailing_slash="/?")
router.register("runs", TunixRunViewSet, basename="run")
