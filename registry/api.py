"""Registry API: model artifacts, promotion, versions, downloads and verification."""

from django.conf import settings
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response

from config.permissions import ActionPermissions
from registry.downloads import download_filename, file_response, zip_response
from registry.exceptions import RegistryError
from registry.models import ModelArtifact, ModelVersion
from registry.serializers import (
    ModelArtifactCreateSerializer,
    ModelArtifactDetailSerializer,
    ModelArtifactSerializer,
    ModelVersionSerializer,
    PromoteRequestSerializer,
    TagsUpdateSerializer,
    VerificationSerializer,
)
from registry.storage import BlobStore
from runs.models import TunixRun

ERROR_DOWNLOADS_DISABLED = (
    "Downloads are disabled on this server: with DEBUG off, set REGISTRY_DOWNLOADS_ENABLED=true "
    "once the server is sized to stream model files (or serve the blob store another way)."
)
REFUSAL = OpenApiResponse(description='A refusal: `{"detail": "...", "code": "..."}`.')


class AnyContentNegotiation(BaseContentNegotiation):
    """Downloads answer with bytes whatever the client accepts; errors still render as JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def check_downloads_enabled() -> None:
    """Refuse downloads in production unless explicitly enabled."""
    if not (settings.DEBUG or settings.REGISTRY_DOWNLOADS_ENABLED):
        raise PermissionDenied(ERROR_DOWNLOADS_DISABLED)


@extend_schema(tags=["models"])
class ModelArtifactViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Model artifacts: list, create, retrieve with versions, and promote a run into one."""

    permission_classes = [ActionPermissions]
    required_permissions = {
        "create": ["registry.add_modelartifact"],
        "promote": ["registry.add_modelversion"],
    }
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        artifacts = ModelArtifact.objects.all()
        if self.action == "list":
            params = self.request.query_params
            artifacts = artifacts.search(params.get("search"))
            if params.get("task_type"):
                artifacts = artifacts.filter(task_type=params["task_type"])
        if self.action in ("list", "retrieve"):
            artifacts = artifacts.with_version_counts().with_latest_version()
        if self.action == "retrieve":
            artifacts = artifacts.prefetch_related(
                Prefetch(
                    "versions",
                    queryset=ModelVersion.objects.order_by("-created_at", "-id"),
                    to_attr="ordered_versions",
                )
            )
        return artifacts.order_by("name", "id")

    def get_serializer_class(self):
        if self.action == "create":
            return ModelArtifactCreateSerializer
        if self.action == "retrieve":
            return ModelArtifactDetailSerializer
        return ModelArtifactSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Text in the name or description."),
            OpenApiParameter("task_type", str, description="Exact task type."),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ModelArtifactCreateSerializer, responses={201: ModelArtifactSerializer})
    def create(self, request, *args, **kwargs):
        serializer = ModelArtifactCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        artifact = serializer.save()
        artifact = (
            self.get_queryset().with_version_counts().with_latest_version().get(pk=artifact.pk)
        )
        return Response(
            ModelArtifactSerializer(artifact, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=PromoteRequestSerializer,
        responses={
            201: ModelVersionSerializer,
            200: ModelVersionSerializer,
            400: REFUSAL,
            404: REFUSAL,
            409: REFUSAL,
        },
        description=(
            "Promote a run into a new version: 201 with the new version, or 200 with the existing "
            "one when the same run with the same content was promoted before."
        ),
    )
    @action(detail=True, methods=["post"], url_path="versions/promote")
    def promote(self, request, pk=None):
        """Promote a completed run's output into a new version of this model."""
        artifact = self.get_object()
        body = PromoteRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        run = TunixRun.objects.filter(pk=data["source_run_id"]).first()
        if run is None:
            raise RegistryError(f"No run with id {data['source_run_id']}.", code="run_not_found")
        version, created = ModelVersion.objects.promote(
            artifact,
            run,
            version=data.get("version"),
            tags=data["tags"],
            force=data["force"],
            user=request.user,
        )
        return Response(
            ModelVersionSerializer(version, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


@extend_schema(tags=["versions"])
class ModelVersionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Model versions: retrieve with manifest, edit tags, download, verify."""

    permission_classes = [ActionPermissions]
    required_permissions = {"partial_update": ["registry.change_modelversion"]}
    queryset = ModelVersion.objects.select_related("artifact").prefetch_related("files")
    serializer_class = ModelVersionSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    @extend_schema(
        request=TagsUpdateSerializer,
        responses={200: ModelVersionSerializer, 400: REFUSAL},
        description="Replace the version's tags. Any other field of a ready version is refused.",
    )
    def partial_update(self, request, pk=None):
        version = self.get_object()
        version.ensure_only_tags_change(request.data)
        body = TagsUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version.set_tags(body.validated_data["tags"])
        return Response(self.get_serializer(version).data)

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The version's files and a SHA256SUMS file."
            ),
            403: REFUSAL,
        }
    )
    @action(detail=True, methods=["get"], content_negotiation_class=AnyContentNegotiation)
    def download(self, request, pk=None):
        """Stream the version as a ZIP whose SHA256SUMS checks every file (`sha256sum -c`)."""
        check_downloads_enabled()
        version = self.get_object()
        version.ensure_downloadable()
        return zip_response(
            BlobStore(settings.MODEL_REGISTRY_PATH),
            version.manifest(),
            filename=download_filename(version.artifact.name, version.version),
            digest=version.sha256,
        )

    @extend_schema(
        parameters=[OpenApiParameter("path", str, OpenApiParameter.PATH)],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            (206, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The requested byte range."
            ),
            403: REFUSAL,
            404: REFUSAL,
            416: OpenApiResponse(description="The range lies outside the file."),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"files/(?P<path>.+)",
        content_negotiation_class=AnyContentNegotiation,
    )
    def file(self, request, pk=None, path=None):
        """Serve one file of the version, with Range requests for resumable downloads."""
        check_downloads_enabled()
        version = self.get_object()
        version.ensure_downloadable()
        entry = get_object_or_404(version.files, path=path)
        blob = BlobStore(settings.MODEL_REGISTRY_PATH).blob_path(entry.sha256)
        if not blob.is_file():
            raise RegistryError(f"The stored bytes of {path} are missing.", code="blob_missing")
        return file_response(
            request,
            blob,
            size=entry.size_bytes,
            sha256=entry.sha256,
            filename=path.rsplit("/", 1)[-1],
        )

    @extend_schema(request=None, responses={200: VerificationSerializer})
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """Re-hash the version's stored blobs; report each file."""
        checks = self.get_object().verify()
        return Response(
            VerificationSerializer({"ok": all(c.ok for c in checks), "files": checks}).data
        )
