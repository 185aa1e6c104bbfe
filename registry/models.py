"""The model registry: model families (artifacts), their immutable versions, and version files."""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from registry.choices import (
    PROMOTED_STATUSES,
    AliasChangeKind,
    EventKind,
    LayoutKind,
    VersionStatus,
)
from registry.exceptions import (
    APPEND_ONLY,
    ARCHIVED,
    BLOB_MISSING,
    ERROR_APPEND_ONLY,
    NOT_DOWNLOADABLE,
    BlobCorruptedError,
    RegistryError,
    VersionImmutableError,
)
from registry.gates import parse_requirements
from registry.labels import REPO_ID_MAX_LENGTH, normalize_tags, validate_repo_id
from registry.managers import (
    AliasChangeManager,
    AppendOnlyQuerySet,
    BlobCheckManager,
    ModelAliasManager,
    ModelArtifactManager,
    ModelVersionManager,
    ModelVersionQuerySet,
    RegistryEventManager,
)
from registry.managers.rules import searchable_metrics
from registry.storage import (
    NO_PROGRESS,
    BlobIdentity,
    FileCheck,
    ManifestEntry,
    Progress,
    StoredDirectory,
)
from registry.stores import blob_store
from runs.lifecycle import EvalStatus

logger = logging.getLogger(__name__)

ERROR_IMMUTABLE = (
    "Version {label} is ready and immutable: only its tags can change (tried to change {fields}). "
    "Promote a new version instead."
)
ERROR_UNDELETABLE = "Version {label} is {status}; promoted versions are never deleted."
ERROR_ARCHIVED = (
    "Version {label} was archived by the model's retention policy; its files are no longer kept. "
    "Its metrics and provenance remain."
)
ERROR_NOT_DOWNLOADABLE = "Version {label} is {status}; only ready versions can be downloaded."
ERROR_BLOBS_MISSING = (
    "Stored files are missing ({paths}); run verify_version and restore them before downloading."
)
# What the Hub file protocol reports a version as: its layout's library, its task's pipeline.
LIBRARY_BY_LAYOUT = {LayoutKind.LORA_ADAPTER: "peft", LayoutKind.FULL_MODEL: "transformers"}
PIPELINE_BY_TASK = {
    "causal-lm": "text-generation",
    "chat": "text-generation",
    "text-generation": "text-generation",
    "classification": "text-classification",
    "text-classification": "text-classification",
}


def check_repo_id(value: str) -> None:
    """Validate a repo id for forms and the admin (the rule itself lives in registry.labels)."""
    try:
        validate_repo_id(value)
    except RegistryError as exc:
        raise ValidationError(exc.message, code=exc.code) from None


class ModelArtifact(models.Model):
    """A model family, such as "Gemma3-1B Tunix SFT", whose builds are its versions."""

    name = models.CharField(max_length=200)
    # Names hold spaces; the Hub file protocol (HF_ENDPOINT) needs an id like `acme/gemma-sft`.
    # Empty only for rows made in bulk; such a model is not served over the protocol. NULL, not
    # "", so that any number of them can share the unique constraint.
    repo_id = models.CharField(  # noqa: DJ001
        "repo id",
        max_length=REPO_ID_MAX_LENGTH,
        null=True,
        blank=True,
        validators=[check_repo_id],
        help_text=(
            "The id huggingface_hub clients use (HF_ENDPOINT): `name` or `namespace/name`. "
            "Changing it breaks clients that use the old one."
        ),
    )
    description = models.TextField(blank=True)
    task_type = models.CharField(
        max_length=64, blank=True, help_text="For example causal-lm, chat, classification."
    )
    keep_last_versions = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=(
            "Retention: keep this many newest versions; older ones without a protected tag or an "
            "alias are archived. Empty keeps everything."
        ),
    )
    requires_completed_eval = models.BooleanField(
        default=False, help_text="Refuse to promote runs whose evaluation is not completed."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ModelArtifactManager()

    class Meta:
        ordering = ["name"]
        verbose_name = "model artifact"
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="registry_modelartifact_name_ci_unique",
                violation_error_message="A model with this name already exists (ignoring case).",
            ),
            models.UniqueConstraint(
                Lower("repo_id"),
                name="registry_modelartifact_repo_id_ci_unique",
                violation_error_message="A model with this repo id already exists (ignoring case).",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def hub_revision(self) -> str:
        """Return the revision to suggest to Hub clients: `production` when that alias is set."""
        if self.aliases.filter(name="production", version__isnull=False).exists():
            return "production"
        return "latest"

    def hub_library(self) -> str | None:
        """Return the library that loads the newest ready version (`peft`, `transformers`)."""
        newest = self.versions.ready().order_by("-created_at", "-id").first()
        return newest.library_name if newest else None

    @property
    def pipeline_tag(self) -> str | None:
        """Return the Hub pipeline for this model's task type, None when there is none."""
        return PIPELINE_BY_TASK.get(self.task_type.strip().lower())


class ModelVersion(models.Model):
    """One promoted build of an artifact: immutable content, metrics, config and provenance."""

    # The immutability rule. A promoted version (ready, or archived since) changes only its tags,
    # but for two changes the registry itself makes: retention archives it, and deleting its run
    # clears the live link (the run's identity stays in provenance_json).
    MUTABLE_WHEN_PROMOTED = frozenset({"tags"})
    REGISTRY_TRANSITIONS = {"status": VersionStatus.ARCHIVED, "source_run_id": None}

    artifact = models.ForeignKey(ModelArtifact, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=64)
    source_run = models.ForeignKey(
        "runs.TunixRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="model_versions",
    )
    status = models.CharField(
        max_length=16, choices=VersionStatus.choices, default=VersionStatus.CREATED
    )
    layout = models.CharField(max_length=32, blank=True)
    metrics_json = models.JSONField(default=dict, blank=True)
    config_json = models.JSONField(default=dict, blank=True)
    provenance_json = models.JSONField(default=dict, blank=True)
    storage_uri = models.CharField(max_length=1024, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True, blank=True)
    # The Hub file protocol's commit id: clients key their cache on it, so it names these bytes of
    # this version for ever (see version_commit()).
    commit = models.CharField(max_length=40, unique=True, editable=False)
    size_bytes = models.BigIntegerField(default=0)
    file_count = models.PositiveIntegerField(default=0)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = ModelVersionManager.from_queryset(ModelVersionQuerySet)()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "model version"
        constraints = [
            models.UniqueConstraint(
                fields=["artifact", "version"],
                name="registry_modelversion_label_unique",
                violation_error_message="This model already has a version with this label.",
            ),
            models.UniqueConstraint(
                fields=["artifact", "source_run", "sha256"],
                name="registry_modelversion_run_content_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(size_bytes__gte=0), name="registry_modelversion_size_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.artifact.name}:{self.version}" if self.artifact_id else self.version

    def save(self, *args, **kwargs):
        if not self._state.adding:
            self.ensure_changeable(
                {name: getattr(self, name) for name in self.changed_fields()}, by_registry=True
            )
        super().save(*args, **kwargs)
        self._loaded_values = {
            f.attname: getattr(self, f.attname) for f in self._meta.concrete_fields
        }

    def delete(self, *args, **kwargs):
        if self.status in PROMOTED_STATUSES:
            raise VersionImmutableError(
                ERROR_UNDELETABLE.format(label=self.version, status=self.status)
            )
        return super().delete(*args, **kwargs)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Remember what was loaded, so save() can tell which fields a caller changed.
        instance._loaded_values = dict(zip(field_names, values, strict=True))
        return instance

    @classmethod
    def refused_changes(cls, changes: dict, *, by_registry: bool = False) -> list[str]:
        """Return, sorted, the fields of `changes` (name: new value) a promoted version refuses.

        `by_registry` allows the registry's own transitions (archiving, a deleted run's link).
        """
        return sorted(
            name
            for name, value in changes.items()
            if name not in cls.MUTABLE_WHEN_PROMOTED
            and not (
                by_registry
                and name in cls.REGISTRY_TRANSITIONS
                and cls.REGISTRY_TRANSITIONS[name] == value
            )
        )

    def ensure_changeable(self, changes: dict, *, by_registry: bool = False) -> None:
        """Refuse `changes` (name: new value) that this version, if promoted, may not take."""
        if getattr(self, "_loaded_values", {}).get("status", self.status) not in PROMOTED_STATUSES:
            return
        refused = self.refused_changes(changes, by_registry=by_registry)
        if refused:
            raise VersionImmutableError(
                ERROR_IMMUTABLE.format(label=self.version, fields=", ".join(refused))
            )

    @property
    def is_ready(self) -> bool:
        return self.status == VersionStatus.READY

    @property
    def library_name(self) -> str | None:
        """Return the library that loads this version (`peft`, `transformers`), None if unknown."""
        return LIBRARY_BY_LAYOUT.get(self.layout)

    @property
    def short_digest(self) -> str:
        """Return the first 12 hex digits of the digest, as shown in tables."""
        return self.sha256[:12]

    def changed_fields(self) -> set[str]:
        """Return the attribute names whose values differ from what was loaded from the database."""
        loaded = getattr(self, "_loaded_values", {})
        return {
            field.attname
            for field in self._meta.concrete_fields
            if field.attname in loaded and getattr(self, field.attname) != loaded[field.attname]
        }

    def clean(self):
        try:
            self.tags = normalize_tags(self.tags)
        except RegistryError as exc:
            raise ValidationError({"tags": exc.message}) from None

    @property
    def key_metric(self) -> tuple[str, float] | None:
        """Return (name, value) of the metric tables show first: eval_loss, loss, or the first."""
        metrics = self.metrics_json or {}
        numeric = {
            k: v
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        for name in ("eval_loss", "loss", "eval_accuracy", "accuracy"):
            if name in numeric:
                return name, numeric[name]
        return next(iter(numeric.items()), None)

    def compare(self, other: "ModelVersion") -> dict:
        """Compare with another version: metrics side by side with differences, and files."""
        mine, theirs = self.metrics_json or {}, other.metrics_json or {}
        metrics = []
        for key in sorted(set(mine) | set(theirs)):
            a, b = mine.get(key), theirs.get(key)
            numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
            metrics.append(
                {"key": key, "this": a, "other": b, "difference": b - a if numbers else None}
            )
        my_files = {f.path: f.sha256 for f in self.files.all()}
        their_files = {f.path: f.sha256 for f in other.files.all()}
        return {
            "metrics": metrics,
            "added": sorted(set(their_files) - set(my_files)),
            "removed": sorted(set(my_files) - set(their_files)),
            "changed": sorted(
                p for p in set(my_files) & set(their_files) if my_files[p] != their_files[p]
            ),
            "unchanged": sum(
                1 for p in set(my_files) & set(their_files) if my_files[p] == their_files[p]
            ),
        }

    def ensure_downloadable(self) -> None:
        """Refuse to serve a version whose files are not all stored."""
        if self.status == VersionStatus.ARCHIVED:
            raise RegistryError(ERROR_ARCHIVED.format(label=self.version), code=ARCHIVED)
        if not self.is_ready:
            raise RegistryError(
                ERROR_NOT_DOWNLOADABLE.format(label=self.version, status=self.status),
                code=NOT_DOWNLOADABLE,
            )

    def add_contents(self, stored: StoredDirectory) -> None:
        """Record a new version's files, its searchable metrics, and its blobs as just hashed."""
        ModelFile.objects.bulk_create(
            ModelFile(version=self, path=e.path, size_bytes=e.size, sha256=e.sha256, crc32=e.crc32)
            for e in stored.manifest
        )
        VersionMetric.objects.bulk_create(
            VersionMetric(version=self, key=key, value=value)
            for key, value in searchable_metrics(self.metrics_json).items()
        )
        # The blobs' bytes were hashed as they were written: downloads need not hash them.
        BlobCheck.objects.record(
            {digest: (identity, True) for digest, identity in stored.identities.items()}
        )

    def set_tags(self, tags, *, user=None) -> "ModelVersion":
        """Replace the version's tags (the one mutable field), validated, and record the change."""
        before, after = list(self.tags), normalize_tags(tags)
        if after == before:
            return self
        with transaction.atomic():
            self.tags = after
            self.save(update_fields=["tags"])
            RegistryEvent.objects.record(
                EventKind.TAG_CHANGE,
                artifact=self.artifact,
                version=self,
                user=user,
                before=before,
                after=after,
            )
        return self

    def evaluation_status(self) -> str:
        """Return the source run's evaluation status now, or as frozen at promotion."""
        if self.source_run is not None:
            return self.source_run.eval_status
        return self.provenance_json.get("eval_status") or "none"

    def manifest(self) -> list[ManifestEntry]:
        """Return the version's files as manifest entries, sorted by path bytes."""
        entries = [ManifestEntry(f.path, f.size_bytes, f.sha256, f.crc32) for f in self.files.all()]
        return sorted(entries, key=lambda e: e.path.encode("utf-8"))

    def verify(self, *, progress: Progress = NO_PROGRESS, user=None) -> list[FileCheck]:
        """Re-hash every stored blob of this version against its manifest; record the result."""
        checks = blob_store().verify(self.manifest(), progress=progress)
        problems = [{"path": c.path, "status": c.status} for c in checks if not c.ok]
        with transaction.atomic():
            BlobCheck.objects.record(
                {c.expected: (c.identity, c.ok) for c in checks if c.identity is not None}
            )
            RegistryEvent.objects.record(
                EventKind.VERIFICATION,
                artifact=self.artifact,
                version=self,
                user=user,
                ok=not problems,
                files=len(checks),
                problems=problems,
            )
        for problem in problems:
            logger.error(
                "Version %s (id %s): stored file %s is %s.",
                self,
                self.pk,
                problem["path"],
                problem["status"],
            )
        return checks

    def failed_files(self) -> list[str]:
        """Return the paths of this version's files whose blobs last failed a hash check."""
        if hasattr(self, "failed_file_paths"):
            return self.failed_file_paths
        failed = BlobCheck.objects.filter(ok=False).values("sha256")
        return sorted(self.files.filter(sha256__in=failed).values_list("path", flat=True))

    def integrity_guard(self, *, user=None, paths=None) -> "IntegrityGuard":
        """Check the blobs of a download before its first byte; return the guard that serves it.

        Refuses (`blob_missing`, `integrity_failed`) a file whose blob is gone, has the wrong size,
        or failed a hash check and is unchanged since; trusts those verified and untouched since.
        """
        entries = [e for e in self.manifest() if paths is None or e.path in paths]
        return IntegrityGuard(self, entries, user=user)


class IntegrityGuard:
    """A download's view of its blobs: which to trust, and where to record what it finds."""

    def __init__(self, version: ModelVersion, entries: list[ManifestEntry], *, user=None):
        self.version = version
        self.user = user
        self.store = blob_store()
        self.trusted: dict[str, BlobIdentity] = {}
        self._verified: dict[str, BlobIdentity] = {}
        digests = {e.sha256 for e in entries}
        trusted, failed = BlobCheck.objects.trusted(digests), BlobCheck.objects.failed(digests)
        missing = []
        for entry in entries:
            identity = self.store.identity(entry.sha256)
            if identity is None:
                missing.append(entry.path)
                continue
            if identity.size != entry.size:
                error = BlobCorruptedError(
                    f"The stored file {entry.path} is {identity.size} bytes, not {entry.size}: "
                    "it is not served. Run `manage.py verify_version` and restore it from a "
                    "backup.",
                    path=entry.path,
                    expected=entry.sha256,
                    actual=None,
                )
                self.failed(error)
                raise error
            if failed.get(entry.sha256) == identity:
                raise BlobCorruptedError(
                    f"The stored file {entry.path} failed its last hash check and has not "
                    "changed since: it is not served. Restore it from a backup, then run "
                    "`manage.py verify_version`.",
                    path=entry.path,
                    expected=entry.sha256,
                    actual=None,
                )
            if trusted.get(entry.sha256) == identity:
                self.trusted[entry.sha256] = identity
        if missing:
            raise RegistryError(
                ERROR_BLOBS_MISSING.format(paths=", ".join(missing)), code=BLOB_MISSING
            )

    def verified(self, entry: ManifestEntry, identity: BlobIdentity) -> None:
        """Note a blob hashed in full that matched (any thread: a dict item set is atomic)."""
        self._verified[entry.sha256] = identity

    def failed(self, error: BlobCorruptedError) -> None:
        """Log the mismatch, remember the blob as bad, record it in the version's audit trail."""
        logger.error(
            "Download of %s (version id %s) refused: %s", self.version, self.version.pk, error
        )
        identity = self.store.identity(error.expected)
        with transaction.atomic():
            if identity is not None and error.certain:
                BlobCheck.objects.record({error.expected: (identity, False)})
            RegistryEvent.objects.record(
                EventKind.VERIFICATION,
                artifact=self.version.artifact,
                version=self.version,
                user=self.user,
                ok=False,
                during="download",
                files=1,
                problems=[
                    {
                        "path": error.path,
                        "status": "mismatch" if error.certain else "changed",
                        "expected": error.expected,
                        "actual": error.actual,
                    }
                ],
            )

    def finished(self) -> None:
        """Remember the blobs this completed download hashed in full, so the next need not."""
        BlobCheck.objects.record(
            {digest: (identity, True) for digest, identity in self._verified.items()}
        )


class ModelFile(models.Model):
    """One file of a version: its path inside the version, size and content digest."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    # Recorded at promotion, so a ZIP's entry header can be written without reading the bytes;
    # null for versions promoted before (`manage.py backfill_crc32`). Big: a CRC is unsigned.
    crc32 = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "path"], name="registry_modelfile_path_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.path


class VersionMetric(models.Model):
    """One numeric metric of a version, copied at promotion so versions can be searched by it."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="metrics")
    key = models.CharField(max_length=200)
    value = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "key"], name="registry_versionmetric_unique"
            ),
        ]
        indexes = [models.Index(fields=["key", "value"], name="registry_metric_key_value")]

    def __str__(self) -> str:
        return f"{self.key}={self.value:g}"


class AppendOnlyModel(models.Model):
    """A record that is written once: never changed, never deleted."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise RegistryError(
                ERROR_APPEND_ONLY.format(records=self._meta.verbose_name), code=APPEND_ONLY
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RegistryError(
            ERROR_APPEND_ONLY.format(records=self._meta.verbose_name), code=APPEND_ONLY
        )


class ModelAlias(models.Model):
    """A movable name for one ready version of a model (`production`), optionally gated."""

    artifact = models.ForeignKey(ModelArtifact, on_delete=models.PROTECT, related_name="aliases")
    name = models.CharField(max_length=64)
    version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="aliases"
    )
    requirements = models.JSONField(
        default=list,
        blank=True,
        help_text='For example [{"metric": "eval_loss", "op": "<=", "value": 0.3}].',
    )
    requires_completed_eval = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ModelAliasManager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "model aliases"
        permissions = [
            ("move_alias", "Can set, move and remove model aliases"),
            ("change_alias_gates", "Can change the requirements an alias imposes"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["artifact", "name"], name="registry_modelalias_unique"),
        ]

    def __str__(self) -> str:
        target = self.version.version if self.version_id else "(unset)"
        return f"{self.artifact.name}@{self.name} -> {target}"

    def gates(self) -> dict:
        """Return what this alias requires, as the gate-change history records it."""
        return {
            "requirements": self.requirements,
            "requires_completed_eval": self.requires_completed_eval,
        }

    def unmet_requirements(self, version: ModelVersion) -> list[str]:
        """Return, in words, each gate requirement `version` does not meet (empty: it passes)."""
        unmet = [
            reason
            for requirement in parse_requirements(self.requirements)
            if (reason := requirement.check(version.metrics_json or {}))
        ]
        if self.requires_completed_eval:
            eval_status = version.evaluation_status()
            if eval_status != EvalStatus.COMPLETED:
                unmet.append(
                    f"a completed evaluation (the source run's evaluation is {eval_status})"
                )
        return unmet


class AliasChange(AppendOnlyModel):
    """One entry of an alias's history: which version it pointed at from when, who moved it, why."""

    artifact = models.ForeignKey(
        ModelArtifact, on_delete=models.PROTECT, related_name="alias_changes"
    )
    alias = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=16, choices=AliasChangeKind.choices)
    from_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AliasChangeManager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "alias change"

    def __str__(self) -> str:
        return f"{self.alias} {self.kind} at {self.at:%Y-%m-%d %H:%M}"


class RegistryEvent(AppendOnlyModel):
    """The audit trail: one row for each thing that happened to a model or version."""

    kind = models.CharField(max_length=16, choices=EventKind.choices, db_index=True)
    artifact = models.ForeignKey(ModelArtifact, on_delete=models.PROTECT, related_name="events")
    version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    objects = RegistryEventManager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "registry event"

    def __str__(self) -> str:
        return f"{self.kind} on {self.artifact_id} at {self.at:%Y-%m-%d %H:%M}"


class BlobCheck(models.Model):
    """The last hash check of one blob: its outcome, and the blob file's identity at the time.

    Downloads trust a blob whose file still has this identity and passed (nothing has written to
    it since), refuse one that still has it and failed, and hash any other while sending it.
    Promotion and `verify_version` write these rows too.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    ok = models.BooleanField()
    size_bytes = models.BigIntegerField()
    device = models.DecimalField(max_digits=20, decimal_places=0)
    inode = models.DecimalField(max_digits=20, decimal_places=0)
    mtime_ns = models.BigIntegerField()
    ctime_ns = models.BigIntegerField()
    # The object's ETag when the blob lives in an object store (registry.s3store).
    etag = models.CharField(max_length=128, blank=True, default="")
    checked_at = models.DateTimeField(default=timezone.now)

    objects = BlobCheckManager()

    class Meta:
        verbose_name = "blob check"

    def __str__(self) -> str:
        return f"{self.sha256[:12]} {'ok' if self.ok else 'failed'} at {self.checked_at:%Y-%m-%d}"

    @property
    def identity(self) -> BlobIdentity:
        """Return the blob file's identity when it was checked."""
        return BlobIdentity(
            self.size_bytes,
            int(self.device),
            int(self.inode),
            self.mtime_ns,
            self.ctime_ns,
            etag=self.etag,
        )
