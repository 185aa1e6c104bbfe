"""Queries over the registry, and promotion: the one way a run becomes a model version."""

import copy
import functools
import hashlib
import re
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

import config
from registry.exceptions import (
    PromotionError,
    RegistryError,
    StorageError,
    VersionImmutableError,
)
from registry.labels import normalize_tags, validate_label
from registry.layouts import locate_model
from registry.storage import NO_PROGRESS, BlobStore, Progress, StoredDirectory
from runs.lifecycle import RunStatus

READY = "ready"
AUTO_LABEL = re.compile(r"^v(\d+)$")
ERROR_RUN_NOT_COMPLETED = "Run {run} is {status}; only completed runs can be promoted."
ERROR_RUN_FAILED = (
    "Run {run} failed; promote it anyway only with force (the version records that it was forced)."
)
ERROR_DRY_RUN = "Run {run} was a dry run and wrote no weights; there is nothing to promote."
ERROR_NO_OUTPUT_DIR = "Run {run} has no output directory to promote."
ERROR_LABEL_TAKEN = "{artifact} already has a version labelled {label}."
ERROR_SAME_CONTENT = (
    "This run's content is already {artifact}:{existing} (digest {digest}); a second label for the "
    "same bytes is what aliases are for."
)
ERROR_BLOBS_VANISHED = "Stored blobs vanished before the version was recorded: {paths}. Retry."


@functools.cache
def requirements_fingerprint() -> str:
    """Return the SHA-256 of requirements.txt: which dependency set promoted a version."""
    try:
        return hashlib.sha256((settings.BASE_DIR / "requirements.txt").read_bytes()).hexdigest()
    except OSError:
        return ""


def check_promotable(run, *, force: bool) -> None:
    """Refuse a run that cannot be promoted, with a code per reason."""
    if run.status == RunStatus.FAILED and not force:
        raise PromotionError(ERROR_RUN_FAILED.format(run=run.name), code="run_failed")
    if run.status not in (RunStatus.COMPLETED, RunStatus.FAILED):
        raise PromotionError(
            ERROR_RUN_NOT_COMPLETED.format(run=run.name, status=run.status),
            code="run_not_completed",
        )
    if (run.config or {}).get("dry_run") is True:
        raise PromotionError(ERROR_DRY_RUN.format(run=run.name), code="dry_run")
    if not run.output_dir:
        raise PromotionError(ERROR_NO_OUTPUT_DIR.format(run=run.name), code="no_output_dir")


class ModelArtifactQuerySet(models.QuerySet):
    """Reads over model artifacts."""

    def with_version_counts(self):
        """Annotate each artifact with `version_count`, its number of ready versions."""
        return self.annotate(
            version_count=models.Count("versions", filter=models.Q(versions__status=READY))
        )

    def with_latest_version(self):
        """Annotate `latest_version_*` (id, label, sha256, size, created) from the newest ready one.

        Correlated subqueries keep a page of artifacts to one SQL query however long it is.
        """
        version_model = self.model._meta.get_field("versions").related_model
        newest = version_model.objects.filter(
            artifact=models.OuterRef("pk"), status=READY
        ).order_by("-created_at", "-id")
        return self.annotate(
            **{
                f"latest_version_{field}": models.Subquery(newest.values(field)[:1])
                for field in ("id", "version", "sha256", "size_bytes", "created_at")
            }
        )

    def search(self, text: str | None):
        """Return artifacts whose name or description contains `text` (any case)."""
        if not text:
            return self
        return self.filter(models.Q(name__icontains=text) | models.Q(description__icontains=text))


class ModelArtifactManager(models.Manager.from_queryset(ModelArtifactQuerySet)):
    """Find artifacts by name, ignoring case as the uniqueness rule does."""

    def create_artifact(self, **fields):
        """Validate and create an artifact; a name taken meanwhile is a `name_taken` refusal."""
        artifact = self.model(**fields)
        artifact.full_clean()
        try:
            with transaction.atomic():
                artifact.save()
        except IntegrityError:
            raise RegistryError(
                f"A model named {artifact.name!r} already exists (ignoring case).",
                code="name_taken",
            ) from None
        return artifact

    def get_by_name(self, name: str):
        """Return the artifact named `name` (any case); raise DoesNotExist."""
        return self.get(name__iexact=name)


class ModelVersionQuerySet(models.QuerySet):
    """Reads over versions; writes that would break immutability are refused."""

    def ready(self):
        """Return versions whose files are all stored: the only ones that can be downloaded."""
        return self.filter(status=READY)

    def for_artifact(self, artifact):
        """Return the versions of `artifact`, newest first."""
        return self.filter(artifact=artifact).order_by("-created_at", "-id")

    def update(self, **kwargs):
        changing = set(kwargs) - {"tags"}
        if kwargs.get("source_run", 0) is None or kwargs.get("source_run_id", 0) is None:
            changing -= {"source_run", "source_run_id"}
        if changing and self.ready().exists():
            raise VersionImmutableError(
                "Ready versions are immutable: only tags can change "
                f"(tried to change {', '.join(sorted(changing))})."
            )
        return super().update(**kwargs)

    def delete(self):
        if self.ready().exists():
            raise VersionImmutableError("Ready versions are never deleted.")
        return super().delete()


class ModelVersionManager(models.Manager):
    """Promotion: the single entry point that turns a run's output into a ready version."""

    def promote(
        self,
        artifact,
        run,
        version: str | None = None,
        tags=(),
        force: bool = False,
        user=None,
        *,
        progress: Progress = NO_PROGRESS,
        extra_provenance: dict | None = None,
    ):
        """Promote `run`'s model directory into `artifact`; return (version, created).

        Idempotent: the same run with the same content returns the existing version.
        """
        label = validate_label(version) if version is not None else None
        tags = normalize_tags(tags)
        check_promotable(run, force=force)
        layout = locate_model(Path(run.output_dir))
        store = BlobStore(settings.MODEL_REGISTRY_PATH)

        try:
            # A run promoted before into this artifact is most likely being promoted again: hash
            # first, and when nothing changed return the existing version without writing a byte.
            previous = self.filter(artifact=artifact, source_run=run).ready()
            if previous.exists():
                digest, _ = store.hash_directory(layout.directory, progress=progress)
                existing = previous.filter(sha256=digest).first()
                if existing:
                    return self._repeat(existing, label), False
            stored = store.put_directory(layout.directory, progress=progress)
        except StorageError as exc:
            raise PromotionError(exc.message, code=exc.code) from exc

        provenance = {
            "run_id": str(run.id),
            "run_name": run.name,
            "run_status": run.status,
            "eval_status": run.eval_status,
            "forced": bool(force and run.status == RunStatus.FAILED),
            "base_model_id": run.base_model_id,
            "dataset_id": run.dataset_id,
            "git_sha": run.git_sha,
            "source_dir": str(layout.directory),
            "promoted_by": user.get_username() if user is not None else None,
            "promoted_at": timezone.now().isoformat(),
            "tunix_rt_version": config.__version__,
            "requirements_sha256": requirements_fingerprint(),
            **(extra_provenance or {}),
        }
        try:
            return self._record(
                artifact,
                run,
                stored,
                store,
                label=label,
                tags=tags,
                layout=layout.kind,
                provenance=provenance,
            )
        except IntegrityError:
            # Only reachable when a concurrent promotion won a race the lock did not cover:
            # answer as if we had arrived second.
            existing = self.filter(artifact=artifact, source_run=run, sha256=stored.digest).first()
            if existing:
                return self._repeat(existing, label), False
            raise PromotionError(
                ERROR_LABEL_TAKEN.format(artifact=artifact.name, label=label), code="label_taken"
            ) from None

    def _record(
        self, artifact, run, stored: StoredDirectory, store, *, label, tags, layout, provenance
    ):
        artifact_model = self.model._meta.get_field("artifact").related_model
        file_model = self.model._meta.get_field("files").related_model
        with transaction.atomic():
            # Serialises promotions into one artifact, so auto labels and idempotency hold.
            locked = artifact_model.objects.select_for_update().get(pk=artifact.pk)
            existing = self.filter(artifact=locked, source_run=run, sha256=stored.digest).first()
            if existing:
                return self._repeat(existing, label), False
            vanished = [e.path for e in stored.manifest if not store.has_blob(e.sha256)]
            if vanished:
                raise PromotionError(
                    ERROR_BLOBS_VANISHED.format(paths=", ".join(vanished)), code="blob_missing"
                )
            label = label or self._next_label(locked)
            if self.filter(artifact=locked, version=label).exists():
                raise PromotionError(
                    ERROR_LABEL_TAKEN.format(artifact=locked.name, label=label), code="label_taken"
                )
            version = self.create(
                artifact=locked,
                version=label,
                source_run=run,
                status="created",
                layout=layout,
                metrics_json=copy.deepcopy(run.metrics or {}),
                config_json=copy.deepcopy(run.config or {}),
                provenance_json=provenance,
                storage_uri=stored.uri,
                sha256=stored.digest,
                size_bytes=stored.size,
                file_count=len(stored.manifest),
                tags=tags,
            )
            file_model.objects.bulk_create(
                file_model(version=version, path=e.path, size_bytes=e.size, sha256=e.sha256)
                for e in stored.manifest
            )
            version.status = READY
            version.save(update_fields=["status"])
            locked.save(update_fields=["updated_at"])
        return version, True

    def _repeat(self, existing, label):
        if label and label != existing.version:
            raise PromotionError(
                ERROR_SAME_CONTENT.format(
                    artifact=existing.artifact.name,
                    existing=existing.version,
                    digest=existing.short_digest,
                ),
                code="content_already_promoted",
            )
        return existing

    def _next_label(self, artifact) -> str:
        labels = self.filter(artifact=artifact, version__regex=r"^v[0-9]+$").values_list(
            "version", flat=True
        )
        numbers = [int(AUTO_LABEL.match(label).group(1)) for label in labels]
        return f"v{max(numbers, default=0) + 1}"
