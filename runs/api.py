"""Runs API: list, register, retrieve, record progress, list output files."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from config.permissions import ActionPermissions
from runs.exceptions import RunTransitionError
from runs.lifecycle import RunStatus
from runs.models import TunixRun
from runs.serializers import (
    RunFileSerializer,
    RunLaunchSerializer,
    TunixRunProgressSerializer,
    TunixRunSerializer,
)


@extend_schema(
    parameters=[
        OpenApiParameter(
            "status", str, enum=RunStatus.values, description="Only runs with this status."
        )
    ]
)
class TunixRunViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Tunix runs. PATCH changes status, metrics, eval status and output directory only."""

    queryset = TunixRun.objects.all()
    http_method_names = ["get", "post", "patch", "head", "options"]
    permission_classes = [ActionPermissions]
    required_permissions = {
        "create": ["runs.add_tunixrun"],
        "launch": ["runs.add_tunixrun"],
        "partial_update": ["runs.change_tunixrun"],
        "update": ["runs.change_tunixrun"],
        "cancel": ["runs.change_tunixrun"],
    }

    def get_queryset(self):
        status = self.request.query_params.get("status") if self.action == "list" else None
        if status and status not in RunStatus.values:
            raise ValidationError(
                {
                    "status": [
                        f"Unknown status {status!r}; use one of {', '.join(RunStatus.values)}."
                    ]
                }
            )
        return TunixRun.objects.with_status(status).newest_first()

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return TunixRunProgressSerializer
        return TunixRunSerializer

    @extend_schema(request=TunixRunProgressSerializer, responses=TunixRunSerializer)
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(request=RunLaunchSerializer, responses={201: TunixRunSerializer})
    @action(detail=False, methods=["post"])
    def launch(self, request):
        """Create a pending run for a trainer and queue it for the worker."""
        body = RunLaunchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = TunixRun.objects.launch(**body.validated_data)
        return Response(TunixRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: TunixRunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a pending or running run."""
        run = self.get_object()
        if not run.can_transition_to("cancelled") or run.status == "cancelled":
            raise RunTransitionError(run.transition_error("cancelled"))
        return Response(TunixRunSerializer(run.cancel()).data)

    @extend_schema(responses=RunFileSerializer(many=True))
    @action(detail=True, methods=["get"])
    def files(self, request, pk=None):
        """List the run's output directory: relative path and size of each file."""
        return Response(RunFileSerializer(self.get_object().output_files(), many=True).data)
