"""Tuning API: jobs (list, create, retrieve, start, cancel, promote-best) and their trials."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.permissions import ActionPermissions
from registry.models import ModelArtifact
from registry.serializers import ModelVersionSerializer
from tuning.exceptions import TuningError
from tuning.models import TuningJob
from tuning.serializers import (
    PromoteBestSerializer,
    TuningJobCreateSerializer,
    TuningJobSerializer,
    TuningTrialSerializer,
)


class TuningJobViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Hyperparameter searches over a trainer, executed on Ray Tune by the worker."""

    serializer_class = TuningJobSerializer
    permission_classes = [ActionPermissions]
    required_permissions = {
        "create": ["tuning.add_tuningjob"],
        "start": ["tuning.change_tuningjob"],
        "cancel": ["tuning.change_tuningjob"],
        "promote_best": ["registry.add_modelversion"],
    }
    lookup_value_regex = r"\d{1,18}"

    def get_queryset(self):
        return (
            TuningJob.objects.with_trial_counts().select_related("best_trial__run").newest_first()
        )

    @extend_schema(request=TuningJobCreateSerializer, responses={201: TuningJobSerializer})
    def create(self, request, *args, **kwargs):
        body = TuningJobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        start = data.pop("start")
        job = TuningJob.objects.create_job(**data)
        if start:
            job.start()
        return Response(
            TuningJobSerializer(self.get_queryset().get(pk=job.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses={200: TuningJobSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Queue a pending job for the worker."""
        job = self.get_object().start()
        return Response(TuningJobSerializer(self.get_queryset().get(pk=job.pk)).data)

    @extend_schema(request=None, responses={200: TuningJobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a pending or running job."""
        job = self.get_object().cancel()
        return Response(TuningJobSerializer(self.get_queryset().get(pk=job.pk)).data)

    @extend_schema(responses={200: TuningTrialSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def trials(self, request, pk=None):
        """The job's trials, in the order they started."""
        trials = self.get_object().trials.select_related("run")
        page = self.paginate_queryset(trials)
        return self.get_paginated_response(TuningTrialSerializer(page, many=True).data)

    @extend_schema(
        request=PromoteBestSerializer,
        responses={201: ModelVersionSerializer, 200: ModelVersionSerializer},
    )
    @action(detail=True, methods=["post"], url_path="promote-best")
    def promote_best(self, request, pk=None):
        """Promote the best trial's run into a model: 201 new, 200 when already promoted."""
        job = self.get_object()
        body = PromoteBestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        artifact = ModelArtifact.objects.filter(pk=body.validated_data["artifact_id"]).first()
        if artifact is None:
            raise TuningError(
                f"No model with id {body.validated_data['artifact_id']}.", code="artifact_not_found"
            )
        version, created = job.promote_best(
            artifact,
            version=body.validated_data.get("version"),
            tags=body.validated_data["tags"],
            user=request.user,
        )
        return Response(
            ModelVersionSerializer(version, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
