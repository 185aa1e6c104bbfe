"""API shapes for the registry. Rules live on the models and managers; these only translate."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.models import (
    AliasChange,
    ModelAlias,
    ModelArtifact,
    ModelFile,
    ModelVersion,
    RegistryEvent,
)


class ModelFileSerializer(serializers.ModelSerializer):
    """One manifest entry."""

    size = serializers.IntegerField(source="size_bytes")

    class Meta:
        model = ModelFile
        fields = ["path", "size", "sha256"]


class VersionSummarySerializer(serializers.ModelSerializer):
    """A version in lists: label, status, digest, size, tags, when."""

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "version",
            "status",
            "layout",
            "sha256",
            "size_bytes",
            "file_count",
            "tags",
            "metrics_json",
            "created_at",
        ]


class LatestVersionSerializer(serializers.Serializer):
    """The newest ready version of an artifact, from `with_latest_version()` annotations."""

    id = serializers.IntegerField(source="latest_version_id")
    version = serializers.CharField(source="latest_version_version")
    sha256 = serializers.CharField(source="latest_version_sha256")
    size_bytes = serializers.IntegerField(source="latest_version_size_bytes")
    created_at = serializers.DateTimeField(source="latest_version_created_at")


class ModelArtifactSerializer(serializers.ModelSerializer):
    """A model artifact in lists, with its version count and latest version."""

    version_count = serializers.IntegerField(read_only=True)
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = ModelArtifact
        fields = [
            "id",
            "name",
            "repo_id",
            "description",
            "task_type",
            "keep_last_versions",
            "requires_completed_eval",
            "version_count",
            "latest_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    @extend_schema_field(LatestVersionSerializer(allow_null=True))
    def get_latest_version(self, artifact: ModelArtifact) -> dict | None:
        if getattr(artifact, "latest_version_id", None) is None:
            return None
        # One serializer for the whole page: building one per row (its fields deep-copied each
        # time) was a fifth of the list's time.
        if not hasattr(self, "_latest_version"):
            self._latest_version = LatestVersionSerializer()
        return self._latest_version.to_representation(artifact)


class ModelArtifactCreateSerializer(serializers.ModelSerializer):
    """What a client sends to create a model artifact."""

    class Meta:
        model = ModelArtifact
        fields = [
            "id",
            "name",
            "repo_id",
            "description",
            "task_type",
            "keep_last_versions",
            "requires_completed_eval",
        ]
        extra_kwargs = {"repo_id": {"required": False, "allow_null": True}}

    def validate(self, attrs: dict) -> dict:
        # The model's own rules (case-insensitive uniqueness included) as field errors.
        try:
            ModelArtifact(**attrs).full_clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs

    def create(self, validated_data: dict) -> ModelArtifact:
        return ModelArtifact.objects.create_artifact(**validated_data)


class ModelArtifactDetailSerializer(ModelArtifactSerializer):
    """A model artifact with all of its versions, newest first, and its aliases."""

    versions = VersionSummarySerializer(many=True, read_only=True, source="ordered_versions")
    aliases = serializers.SerializerMethodField()

    class Meta(ModelArtifactSerializer.Meta):
        fields = [*ModelArtifactSerializer.Meta.fields, "versions", "aliases"]

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_aliases(self, artifact: ModelArtifact) -> list[dict]:
        return AliasSerializer(artifact.ordered_aliases, many=True).data


class ModelVersionSerializer(serializers.ModelSerializer):
    """A version with its manifest, frozen metrics, config and provenance, and links."""

    artifact_name = serializers.CharField(source="artifact.name", read_only=True)
    manifest = ModelFileSerializer(many=True, read_only=True, source="files")
    source_run = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    failed_verification = serializers.SerializerMethodField(
        help_text=(
            "Paths of files whose stored bytes last failed a hash check (by a download or "
            "verify): their downloads are refused. Empty when all is well."
        )
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "artifact",
            "artifact_name",
            "version",
            "status",
            "layout",
            "sha256",
            "commit",
            "size_bytes",
            "file_count",
            "storage_uri",
            "tags",
            "metrics_json",
            "config_json",
            "provenance_json",
            "source_run",
            "download_url",
            "failed_verification",
            "manifest",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_failed_verification(self, version: ModelVersion) -> list[str]:
        return version.failed_files()

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_source_run(self, version: ModelVersion) -> str | None:
        if version.source_run_id is None:
            return None
        return self._absolute(reverse("run-detail", args=[version.source_run_id]))

    @extend_schema_field(serializers.URLField())
    def get_download_url(self, version: ModelVersion) -> str:
        return self._absolute(reverse("modelversion-download", args=[version.pk]))

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class TagsUpdateSerializer(serializers.Serializer):
    """The one change a ready version accepts: its tags."""

    tags = serializers.ListField(child=serializers.CharField(allow_blank=True), allow_empty=True)


class PromoteRequestSerializer(serializers.Serializer):
    """A request to promote a run into this model."""

    source_run_id = serializers.UUIDField()
    version = serializers.CharField(required=False, allow_blank=True, max_length=200)
    tags = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False, default=list
    )
    force = serializers.BooleanField(required=False, default=False)


class FileCheckSerializer(serializers.Serializer):
    """The outcome of re-hashing one stored file."""

    path = serializers.CharField()
    expected = serializers.CharField()
    actual = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["ok", "missing", "mismatch"])


class VerificationSerializer(serializers.Serializer):
    """A version's verification: overall result and one entry per file."""

    ok = serializers.BooleanField()
    files = FileCheckSerializer(many=True)


class AliasSerializer(serializers.ModelSerializer):
    """An alias in a model's details: where it points and what it requires."""

    version_id = serializers.IntegerField(allow_null=True, read_only=True)
    version = serializers.CharField(source="version.version", allow_null=True, default=None)

    class Meta:
        model = ModelAlias
        fields = [
            "name",
            "version_id",
            "version",
            "requirements",
            "requires_completed_eval",
            "updated_at",
        ]


class AliasPointSerializer(serializers.Serializer):
    """Point an alias at a version."""

    version_id = serializers.IntegerField()
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AliasRemoveSerializer(serializers.Serializer):
    """Why an alias is removed (optional)."""

    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class GateRequirementSerializer(serializers.Serializer):
    metric = serializers.CharField()
    op = serializers.ChoiceField(choices=["<=", "<", ">=", ">", "=="])
    value = serializers.FloatField()


class AliasGatesSerializer(serializers.Serializer):
    """The requirements a version must meet before the alias may point at it."""

    requirements = GateRequirementSerializer(many=True, required=False, default=list)
    requires_completed_eval = serializers.BooleanField(required=False, default=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AliasChangeSerializer(serializers.ModelSerializer):
    """One entry of an alias's history."""

    from_version = serializers.CharField(source="from_version.version", default=None)
    to_version = serializers.CharField(source="to_version.version", default=None)

    class Meta:
        model = AliasChange
        fields = [
            "id",
            "alias",
            "kind",
            "from_version_id",
            "from_version",
            "to_version_id",
            "to_version",
            "actor_name",
            "reason",
            "details",
            "at",
        ]


class AliasAtSerializer(serializers.Serializer):
    """Which version an alias pointed at, at a moment."""

    alias = serializers.CharField()
    at = serializers.DateTimeField()
    version = VersionSummarySerializer(allow_null=True)
    change = AliasChangeSerializer(allow_null=True)


class RegistryEventSerializer(serializers.ModelSerializer):
    """One entry of the audit trail."""

    version = serializers.CharField(source="version.version", default=None)

    class Meta:
        model = RegistryEvent
        fields = ["id", "kind", "version_id", "version", "actor_name", "at", "details"]


class VersionSearchResultSerializer(VersionSummarySerializer):
    """A version found by a search, with its model and the searched metric's value."""

    artifact_id = serializers.IntegerField(read_only=True)
    artifact_name = serializers.CharField(source="artifact.name", read_only=True)
    metric_value = serializers.SerializerMethodField()

    class Meta(VersionSummarySerializer.Meta):
        fields = [
            "artifact_id",
            "artifact_name",
            *VersionSummarySerializer.Meta.fields,
            "metric_value",
        ]

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_metric_value(self, version) -> float | None:
        """The searched metric's value; null when the search named no metric."""
        return getattr(version, "metric_value", None)
