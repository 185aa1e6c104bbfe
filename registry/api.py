"""Registry API: model artifacts, promotion, aliases, events, versions, downloads, search."""

from django.conf import settings
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response

from config.permissions import ActionPermissions
from registry.choices import EventKind
from registry.downloads import download_filename, file_response, zip_response
from registry.exceptions import (
    ARTIFACT_NOT_FOUND,
    RUN_NOT_FOUND,
    VERSION_NOT_FOUND,
    RegistryError,
)
from registry.forms import VersionSearchForm
from registry.models import (
    AliasChange,
    ModelAlias,
    ModelArtifact,
    ModelVersion,
    RegistryEvent,
)
from registry.serializers import (
    AliasAtSerializer,
    AliasChangeSerializer,
    AliasGatesSerializer,
    AliasPointSerializer,
    AliasRemoveSerializer,
    AliasSerializer,
    ModelArtifactCreateSerializer,
    ModelArtifactDetailSerializer,
    ModelArtifactSerializer,
    ModelVersionSerializer,
    PromoteRequestSerializer,
    RegistryEventSerializer,
    TagsUpdateSerializer,
    VerificationSerializer,
    VersionSearchResultSerializer,
)
from registry.storage import ManifestEntry
from registry.stores import blob_store
from runs.models import TunixRun

ERROR_DOWNLOADS_DISABLED = (
    "Downloads are disabled on this server: with DEBUG off, set REGISTRY_DOWNLOADS_ENABLED=true "
    "once the server is sized to stream model files (or serve the blob store another way)."
)
ERROR_NO_ARTIFACT = "No model {lookup!r}."
ERROR_NO_RUN = "No run with id {run_id}."
ERROR_NO_VERSION = "No version with id {version_id}."
ERROR_UNKNOWN_KIND = "Unknown event kind {kind!r}; use one of {kinds}."
ERROR_BAD_MOMENT = "{text!r} is not an ISO 8601 date-time such as 2026-03-03T12:00:00Z."
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
        "point_alias": ["registry.move_alias"],
        "remove_alias": ["registry.move_alias"],
        "alias_gates": ["registry.change_alias_gates"],
    }
    # A model is addressed by id or by name: /api/models/7/... or /api/models/by-name/Gemma/...
    lookup_value_regex = r"\d+|by-name/[^/]+"

    def get_object(self):
        lookup = self.kwargs["pk"]
        artifacts = self.get_queryset()
        if lookup.startswith("by-name/"):
            artifact = artifacts.named(lookup.removeprefix("by-name/")).first()
        else:
            artifact = artifacts.filter(pk=lookup).first()
        if artifact is None:
            raise RegistryError(
                ERROR_NO_ARTIFACT.format(lookup=lookup.removeprefix("by-name/")),
                code=ARTIFACT_NOT_FOUND,
            )
        self.check_object_permissions(self.request, artifact)
        return artifact

    def get_queryset(self):
        if self.action == "list":
            params = self.request.query_params
            return ModelArtifact.objects.listing(
                text=params.get("search"), task_type=params.get("task_type")
            )
        artifacts = ModelArtifact.objects.all()
        if self.action == "retrieve":
            artifacts = (
                artifacts.with_version_counts()
                .with_latest_version()
                .prefetch_related(
                    Prefetch(
                        "versions",
                        queryset=ModelVersion.objects.order_by("-created_at", "-id"),
                        to_attr="ordered_versions",
                    ),
                    Prefetch(
                        "aliases",
                        queryset=ModelAlias.objects.select_related("version").order_by("name"),
                        to_attr="ordered_aliases",
                    ),
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
            raise RegistryError(
                ERROR_NO_RUN.format(run_id=data["source_run_id"]), code=RUN_NOT_FOUND
            )
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

    # ---- aliases ---------------------------------------------------------------------------

    @extend_schema(
        responses={200: ModelVersionSerializer, 404: REFUSAL},
        description="Resolve an alias (`latest`: the newest ready version) to its version.",
    )
    @action(detail=True, methods=["get"], url_path=r"aliases/(?P<alias>[^/]+)")
    def alias(self, request, pk=None, alias=None):
        """Resolve an alias to the version it points at."""
        version = ModelAlias.objects.resolve(self.get_object(), alias)
        return Response(ModelVersionSerializer(version, context=self.get_serializer_context()).data)

    @extend_schema(
        request=AliasPointSerializer,
        responses={200: AliasSerializer, 400: REFUSAL, 404: REFUSAL},
        description="Set or move the alias; refused, naming each unmet requirement, by its gates.",
    )
    @alias.mapping.put
    def point_alias(self, request, pk=None, alias=None):
        """Set or move an alias, through its gates."""
        artifact = self.get_object()
        body = AliasPointSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version_id = body.validated_data["version_id"]
        version = ModelVersion.objects.filter(pk=version_id).first()
        if version is None:
            raise RegistryError(
                ERROR_NO_VERSION.format(version_id=version_id), code=VERSION_NOT_FOUND
            )
        pointed = ModelAlias.objects.point(
            artifact, alias, version, user=request.user, reason=body.validated_data["reason"]
        )
        return Response(AliasSerializer(pointed).data)

    @extend_schema(
        request=AliasRemoveSerializer,
        responses={200: AliasSerializer, 404: REFUSAL},
        description="Remove the alias (its gates stay).",
    )
    @alias.mapping.delete
    def remove_alias(self, request, pk=None, alias=None):
        """Remove an alias."""
        artifact = self.get_object()
        body = AliasRemoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        removed = ModelAlias.objects.remove(
            artifact, alias, user=request.user, reason=body.validated_data["reason"]
        )
        return Response(AliasSerializer(removed).data)

    @extend_schema(
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY), 404: REFUSAL}
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"aliases/(?P<alias>[^/]+)/download",
        content_negotiation_class=AnyContentNegotiation,
    )
    def alias_download(self, request, pk=None, alias=None):
        """Download the version an alias points at, as a ZIP."""
        check_downloads_enabled()
        return version_zip(
            ModelAlias.objects.resolve(self.get_object(), alias), request.user, request=request
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "at", OpenApiTypes.DATETIME, description="Answer which version it held then."
            )
        ],
        responses={200: AliasChangeSerializer(many=True)},
        description=(
            "The alias's history, newest first; with `?at=`, which version it pointed at then "
            "(an `AliasAt` object)."
        ),
    )
    @action(detail=True, methods=["get"], url_path=r"aliases/(?P<alias>[^/]+)/history")
    def alias_history(self, request, pk=None, alias=None):
        """List an alias's history, or tell which version it held at `?at=`."""
        changes = AliasChange.objects.of_alias(self.get_object(), alias)
        at = request.query_params.get("at")
        if at is None:
            page = self.paginate_queryset(changes)
            return self.get_paginated_response(AliasChangeSerializer(page, many=True).data)
        moment = parse_moment(at)
        change = changes.as_of(moment)
        version = change.to_version if change is not None else None
        return Response(
            AliasAtSerializer(
                {"alias": alias, "at": moment, "version": version, "change": change}
            ).data
        )

    @extend_schema(request=AliasGatesSerializer, responses={200: AliasSerializer, 400: REFUSAL})
    @action(detail=True, methods=["put"], url_path=r"aliases/(?P<alias>[^/]+)/gates")
    def alias_gates(self, request, pk=None, alias=None):
        """Replace the requirements a version must meet before this alias may point at it."""
        artifact = self.get_object()
        body = AliasGatesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        gated = ModelAlias.objects.set_gates(
            artifact,
            alias,
            requirements=body.validated_data["requirements"],
            requires_completed_eval=body.validated_data["requires_completed_eval"],
            user=request.user,
            reason=body.validated_data["reason"],
        )
        return Response(AliasSerializer(gated).data)

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=EventKind.values)],
        responses={200: RegistryEventSerializer(many=True)},
    )
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The model's audit trail, newest first, optionally of one kind."""
        kind = request.query_params.get("kind")
        if kind and kind not in EventKind.values:
            raise RegistryError(
                ERROR_UNKNOWN_KIND.format(kind=kind, kinds=", ".join(EventKind.values)),
                code="invalid_kind",
            )
        events = (
            RegistryEvent.objects.for_artifact(self.get_object())
            .of_kind(kind)
            .select_related("version")
        )
        page = self.paginate_queryset(events)
        return self.get_paginated_response(RegistryEventSerializer(page, many=True).data)


def parse_moment(text: str):
    """Parse an ISO 8601 moment (UTC when no offset is given); refuse anything else."""
    moment = parse_datetime(text.replace(" ", "+")) if text else None
    if moment is None:
        raise RegistryError(ERROR_BAD_MOMENT.format(text=text), code="invalid_at")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, timezone.utc)


def version_zip(version: ModelVersion, user=None, *, request=None):
    """Return the streamed ZIP of a ready version, checked before and while it is sent."""
    version.ensure_downloadable()
    return zip_response(
        blob_store(),
        version.manifest(),
        filename=download_filename(version.artifact.name, version.version),
        digest=version.sha256,
        guard=version.integrity_guard(user=user),
        request=request,
    )


@extend_schema(tags=["versions"])
class ModelVersionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
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
        # Through the API a curator edits tags only: the registry's own transitions are not edits.
        version.ensure_changeable(request.data if isinstance(request.data, dict) else {})
        body = TagsUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version.set_tags(body.validated_data["tags"], user=request.user)
        return Response(self.get_serializer(version).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("model", str, description="Only versions of this model (its name)."),
            OpenApiParameter("metric", str, description="Filter and sort by this metric."),
            OpenApiParameter("lte", float, description="Metric at most this."),
            OpenApiParameter("gte", float, description="Metric at least this."),
            OpenApiParameter("order", str, enum=["metric", "-metric"]),
        ],
        responses={200: VersionSearchResultSerializer(many=True), 400: REFUSAL},
    )
    def list(self, request, *args, **kwargs):
        """Search ready versions across models by a metric."""
        versions = VersionSearchForm(request.query_params).versions()
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(VersionSearchResultSerializer(page, many=True).data)

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
        return version_zip(self.get_object(), request.user, request=request)

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
        return file_response(
            request,
            blob_store(),
            ManifestEntry(entry.path, entry.size_bytes, entry.sha256),
            filename=path.rsplit("/", 1)[-1],
            guard=version.integrity_guard(user=request.user, paths={entry.path}),
        )

    @extend_schema(request=None, responses={200: VerificationSerializer})
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """Re-hash the version's stored blobs; report each file."""
        checks = self.get_object().verify(user=request.user)
        return Response(
            VerificationSerializer({"ok": all(c.ok for c in checks), "files": checks}).data
        )
