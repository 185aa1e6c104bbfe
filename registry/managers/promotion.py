"""Promotion, retention and garbage collection: how versions come, are retired, and their blobs go.

`ModelVersion.objects.promote()` is the one coordinator: the rules (`rules.py`) say whether a
run may be promoted, the blob store (`registry/storage.py`) writes its bytes, and the recording
transaction here makes the version ready under the artifact's lock.
"""

import copy
import re
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

import config
from registry.choices import EventKind, VersionStatus
from registry.exceptions import (
    BLOB_MISSING,
    CONTENT_ALREADY_PROMOTED,
    LABEL_TAKEN,
    PromotionError,
    StorageError,
)
from registry.labels import normalize_tags, validate_label
from registry.layouts import locate_model
from registry.locks import store_lock
from registry.managers.rules import check_promotable, requirements_fingerprint, version_commit
from registry.storage import NO_PROGRESS, Progress, StoredDirectory
from registry.stores import blob_store
from runs.lifecycle import RunStatus

AUTO_LABEL = re.compile(r"^v(\d+)$")
ERROR_LABEL_TAKEN = "{artifact} already has a version labelled {label}."
ERROR_SAME_CONTENT = (
    "This run's content is already {artifact}:{existing} (digest {digest}); a second label for the "
    "same bytes is what aliases are for."
)
ERROR_BLOBS_VANISHED = "Stored blobs vanished before the version was recorded: {paths}. Retry."


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
        check_promotable(run, force=force, artifact=artifact)
        layout = locate_model(Path(run.output_dir))
        store = blob_store()

        try:
            # A run promoted before into this artifact is most likely being promoted again: hash
            # first, and when nothing changed return the existing version without writing a byte.
            previous = self.filter(artifact=artifact, source_run=run).ready()
            if previous.exists():
                digest, _ = store.hash_directory(layout.directory, progress=progress)
                existing = previous.filter(sha256=digest).first()
                if existing:
                    return self._repeat(existing, label, user), False
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
            **layout.details,
            "promoted_by": user.get_username() if user is not None else None,
            "promoted_at": timezone.now().isoformat(),
            "tunix_rt_version": config.__version__,
            "requirements_sha256": requirements_fingerprint(),
            **(extra_provenance or {}),
        }
        try:
            # Shared with other promotions, exclusive for the garbage collector: it cannot delete a
            # blob between our check that the blobs exist and the commit that references them, on
            # any host (registry/locks.py).
            with store_lock(exclusive=False):
                version, created = self._record(
                    artifact,
                    run,
                    stored,
                    store,
                    label=label,
                    tags=tags,
                    layout=layout.kind,
                    provenance=provenance,
                    user=user,
                )
        except IntegrityError:
            # Only reachable when a concurrent promotion won a race the lock did not cover:
            # answer as if we had arrived second.
            existing = self.filter(artifact=artifact, source_run=run, sha256=stored.digest).first()
            if existing:
                return self._repeat(existing, label, user), False
            raise PromotionError(
                ERROR_LABEL_TAKEN.format(artifact=artifact.name, label=label), code=LABEL_TAKEN
            ) from None
        if created:
            self.apply_retention(version.artifact, user=user)
        return version, created

    def apply_retention(self, artifact, *, user=None) -> list:
        """Archive what the model's keep-last-N policy retires; return the archived versions.

        The newest N ready versions stay, and so does any version with a protected tag
        (REGISTRY_PROTECTED_TAGS) or an alias pointing at it.
        """
        keep = artifact.keep_last_versions
        if not keep:
            return []
        protected = set(settings.REGISTRY_PROTECTED_TAGS)
        archived = []
        with transaction.atomic():
            ready = list(
                self.for_artifact(artifact).ready().annotate(alias_count=models.Count("aliases"))
            )
            for version in ready[max(keep, 1) :]:
                if version.alias_count or protected.intersection(version.tags):
                    continue
                version.status = VersionStatus.ARCHIVED
                version.save(update_fields=["status"])
                artifact.events.record(
                    EventKind.ARCHIVE,
                    version=version,
                    user=user,
                    keep_last_versions=keep,
                )
                archived.append(version)
        return archived

    def collect_garbage(self, *, dry_run: bool = False, grace_seconds: int | None = None):
        """Remove blobs and manifests no ready version references, and stale temporary files."""
        # models.py imports this package, so BlobCheck (which no version relates to) is named here.
        from registry.models import BlobCheck

        store = blob_store()
        grace = settings.REGISTRY_GC_GRACE_SECONDS if grace_seconds is None else grace_seconds
        live = self.live()
        with store_lock(exclusive=True):
            report = store.collect_garbage(
                referenced_blobs=set(
                    live.filter(files__isnull=False).values_list("files__sha256", flat=True)
                ),
                referenced_manifests=set(live.values_list("sha256", flat=True)),
                grace_seconds=grace,
                dry_run=dry_run,
            )
            if not dry_run:
                BlobCheck.objects.forget([path.name for path in report.blobs])
            return report

    def _record(
        self,
        artifact,
        run,
        stored: StoredDirectory,
        store,
        *,
        label,
        tags,
        layout,
        provenance,
        user,
    ):
        with transaction.atomic():
            # Serialises promotions into one artifact, so auto labels and idempotency hold.
            locked = type(artifact).objects.lock(artifact)
            existing = self.filter(artifact=locked, source_run=run, sha256=stored.digest).first()
            if existing:
                return self._repeat(existing, label, user), False
            vanished = [e.path for e in stored.manifest if not store.has_blob(e.sha256)]
            if vanished:
                raise PromotionError(
                    ERROR_BLOBS_VANISHED.format(paths=", ".join(vanished)), code=BLOB_MISSING
                )
            label = label or self._next_label(locked)
            if self.filter(artifact=locked, version=label).exists():
                raise PromotionError(
                    ERROR_LABEL_TAKEN.format(artifact=locked.name, label=label), code=LABEL_TAKEN
                )
            version = self.create(
                artifact=locked,
                version=label,
                source_run=run,
                status=VersionStatus.CREATED,
                layout=layout,
                metrics_json=copy.deepcopy(run.metrics or {}),
                config_json=copy.deepcopy(run.config or {}),
                provenance_json=provenance,
                storage_uri=stored.uri,
                sha256=stored.digest,
                commit=version_commit(locked.pk, label, stored.digest),
                size_bytes=stored.size,
                file_count=len(stored.manifest),
                tags=tags,
            )
            version.add_contents(stored)
            version.status = VersionStatus.READY
            version.save(update_fields=["status"])
            locked.save(update_fields=["updated_at"])
            locked.events.record(
                EventKind.PROMOTION,
                version=version,
                user=user,
                created=True,
                run_id=str(run.id),
                digest=version.sha256,
            )
        return version, True

    def _repeat(self, existing, label, user):
        if label and label != existing.version:
            raise PromotionError(
                ERROR_SAME_CONTENT.format(
                    artifact=existing.artifact.name,
                    existing=existing.version,
                    digest=existing.short_digest,
                ),
                code=CONTENT_ALREADY_PROMOTED,
            )
        existing.artifact.events.record(
            EventKind.PROMOTION,
            version=existing,
            user=user,
            created=False,
            run_id=str(existing.source_run_id),
            digest=existing.sha256,
        )
        return existing

    def _next_label(self, artifact) -> str:
        labels = self.filter(artifact=artifact, version__regex=r"^v[0-9]+$").values_list(
            "version", flat=True
        )
        numbers = [int(AUTO_LABEL.match(label).group(1)) for label in labels]
        return f"v{max(numbers, default=0) + 1}"
