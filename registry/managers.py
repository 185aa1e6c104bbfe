"""Queries over the registry, and promotion: the one way a run becomes a model version."""

import copy
import functools
import hashlib
import math
import re
from pathlib import Path

from django.apps import apps
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
from registry.gates import parse_requirements, requirements_as_json
from registry.labels import (
    LABEL_PATTERN,
    REPO_ID_PATTERN,
    normalize_tags,
    repo_id_from_name,
    validate_label,
)
from registry.layouts import locate_model
from registry.storage import NO_PROGRESS, BlobIdentity, BlobStore, Progress, StoredDirectory
from runs.lifecycle import RunStatus

READY = "ready"
# How soon after a blob file changed a hash check is too close to trust the file's identity alone.
RACY_SECONDS = 0.05
ARCHIVED = "archived"
# A Hub commit id: clients treat a revision of this shape as immutable and skip asking for it.
COMMIT_ID = re.compile(r"[0-9a-f]{40}")
AUTO_LABEL = re.compile(r"^v(\d+)$")
ERROR_RUN_NOT_COMPLETED = "Run {run} is {status}; only completed runs can be promoted."
ERROR_RUN_FAILED = (
    "Run {run} failed; promote it anyway only with force (the version records that it was forced)."
)
ERROR_DRY_RUN = "Run {run} was a dry run and wrote no weights; there is nothing to promote."
ERROR_NO_OUTPUT_DIR = "Run {run} has no output directory to promote."
ERROR_OUTSIDE_ROOTS = (
    "Run {run}'s output directory {path} is outside the allowed run roots (RUN_ROOTS); "
    "nothing from there is promoted."
)
ERROR_EVAL_REQUIRED = (
    "{artifact} only accepts runs whose evaluation is completed; run {run}'s evaluation is "
    "{status}. Finish the evaluation (or change the model's promotion gate) and promote again."
)
ERROR_LABEL_TAKEN = "{artifact} already has a version labelled {label}."
ERROR_SAME_CONTENT = (
    "This run's content is already {artifact}:{existing} (digest {digest}); a second label for the "
    "same bytes is what aliases are for."
)
ERROR_BLOBS_VANISHED = "Stored blobs vanished before the version was recorded: {paths}. Retry."


def version_commit(artifact_id: int, label: str, digest: str) -> str:
    """Return a version's Hub commit id: 40 hex digits naming this model, label and content.

    Labels are unique within a model and the digest pins the bytes, so an id never names two
    different contents. Migration 0006 copies this formula for versions promoted before it.
    """
    return hashlib.sha1(  # noqa: S324 (an identifier shaped like a git commit, not a signature)
        f"tunix-rt version\0{artifact_id}\0{label}\0{digest}".encode()
    ).hexdigest()


@functools.cache
def requirements_fingerprint() -> str:
    """Return the SHA-256 of requirements.txt: which dependency set promoted a version."""
    try:
        return hashlib.sha256((settings.BASE_DIR / "requirements.txt").read_bytes()).hexdigest()
    except OSError:
        return ""


def searchable_metrics(metrics: dict) -> dict[str, float]:
    """Return the finite numeric top-level metrics: the ones versions can be searched by."""
    return {
        key: float(value)
        for key, value in (metrics or {}).items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and len(key) <= 200
    }


def check_promotable(run, *, force: bool, artifact=None) -> None:
    """Refuse a run that cannot be promoted (into `artifact`), with a code per reason."""
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
    if artifact is not None and artifact.requires_completed_eval and run.eval_status != "completed":
        raise PromotionError(
            ERROR_EVAL_REQUIRED.format(
                artifact=artifact.name, run=run.name, status=run.eval_status
            ),
            code="evaluation_required",
        )
    if not run.output_dir_is_allowed():
        # Checked again here, not only when the path was set: settings and symlinks change.
        raise PromotionError(
            ERROR_OUTSIDE_ROOTS.format(run=run.name, path=run.output_dir), code="outside_run_roots"
        )


class ModelArtifactQuerySet(models.QuerySet):
    """Reads over model artifacts."""

    def with_version_counts(self):
        """Annotate each artifact with `version_count`, its number of ready versions.

        A correlated subquery, not a JOIN and GROUP BY: a page's `count()` then drops it (and the
        latest-version ones), where an aggregate made it compute them for every artifact.
        """
        version_model = self.model._meta.get_field("versions").related_model
        ready = version_model.objects.filter(artifact=models.OuterRef("pk"), status=READY)
        counted = ready.order_by().values("artifact").annotate(n=models.Count("pk")).values("n")
        return self.annotate(version_count=models.functions.Coalesce(models.Subquery(counted), 0))

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
        """Validate and create an artifact; a name taken meanwhile is a `name_taken` refusal.

        Without a repo id, one is made from the name (`gemma3-1b-tunix-sft`, then `-2`, ...).
        """
        artifact = self.model(**fields)
        if not artifact.repo_id:
            artifact.repo_id = self.free_repo_id(artifact.name)
        artifact.full_clean()
        try:
            with transaction.atomic():
                artifact.save()
        except IntegrityError:
            if self.filter(repo_id__iexact=artifact.repo_id).exists():
                raise RegistryError(
                    f"A model with the repo id {artifact.repo_id!r} already exists.",
                    code="repo_id_taken",
                ) from None
            raise RegistryError(
                f"A model named {artifact.name!r} already exists (ignoring case).",
                code="name_taken",
            ) from None
        return artifact

    def free_repo_id(self, name: str) -> str:
        """Return a repo id made from `name` that no model holds yet (ignoring case)."""
        base = repo_id_from_name(name)
        taken = {
            repo_id.lower()
            for repo_id in self.filter(repo_id__istartswith=base).values_list("repo_id", flat=True)
        }
        candidate, number = base, 1
        while candidate.lower() in taken:
            number += 1
            suffix = f"-{number}"
            candidate = base[: 96 - len(suffix)] + suffix
        return candidate

    def get_by_name(self, name: str):
        """Return the artifact named `name` (any case); raise DoesNotExist."""
        return self.get(name__iexact=name)

    def get_by_repo_id(self, repo_id: str):
        """Return the artifact with Hub repo id `repo_id` (any case); raise DoesNotExist."""
        if not REPO_ID_PATTERN.fullmatch(repo_id):
            # Not a repo id at all (NUL bytes, slashes, 10 kB): no query, which might choke on it.
            raise self.model.DoesNotExist(f"{repo_id[:200]!r} is not a repo id.")
        return self.get(repo_id__iexact=repo_id)


class ModelVersionQuerySet(models.QuerySet):
    """Reads over versions; writes that would break immutability are refused."""

    def ready(self):
        """Return versions whose files are all stored: the only ones that can be downloaded."""
        return self.filter(status=READY)

    def for_artifact(self, artifact):
        """Return the versions of `artifact`, newest first."""
        return self.filter(artifact=artifact).order_by("-created_at", "-id")

    def at_revision(self, artifact, revision: str):
        """Return the version of `artifact` a Hub revision names; raise `revision_not_found`.

        In order: a commit id; an alias (`latest` is the newest ready version; `main` is the
        alias `main` when the model has one, else `latest`); a version label. Archived versions
        are returned so that callers can answer that they are gone; versions that never became
        ready are not revisions.
        """
        if not LABEL_PATTERN.fullmatch(revision):
            # Labels, aliases and commit ids all have this shape; anything else names nothing.
            raise RegistryError(
                f"{artifact.name} has no revision {revision[:100]!r}.", code="revision_not_found"
            )
        versions = self.filter(artifact=artifact, status__in=[READY, ARCHIVED])
        if COMMIT_ID.fullmatch(revision):
            found = versions.filter(commit=revision).first()
            if found is not None:
                return found
        aliases = artifact.aliases
        name = revision
        if revision == "main" and not aliases.filter(name="main").exists():
            name = "latest"
        try:
            return aliases.resolve(artifact, name)
        except RegistryError:
            pass  # not an alias (or one pointing nowhere): perhaps a label
        found = versions.filter(version=revision).first()
        if found is None:
            raise RegistryError(
                f"{artifact.name} has no revision {revision!r}: it is no version label, alias or "
                "commit id of this model.",
                code="revision_not_found",
            )
        return found

    def search(
        self,
        *,
        artifact=None,
        model: str | None = None,
        metric: str | None = None,
        lte: float | None = None,
        gte: float | None = None,
        order: str | None = None,
    ):
        """Return ready versions, of one model (by name) or all, filtered and sorted by a metric.

        With `metric`, only versions that have it as a number are returned, annotated with
        `metric_value`; `order` is `metric`, `-metric`, or newest first when empty.
        """
        versions = self.ready().select_related("artifact")
        if artifact is not None:
            versions = versions.filter(artifact=artifact)
        if model:
            versions = versions.filter(artifact__name__iexact=model)
        if metric:
            versions = versions.filter(metrics__key=metric).annotate(
                metric_value=models.F("metrics__value")
            )
            if lte is not None:
                versions = versions.filter(metric_value__lte=lte)
            if gte is not None:
                versions = versions.filter(metric_value__gte=gte)
        if order in ("metric", "-metric"):
            if not metric:
                raise RegistryError(
                    "order=metric needs a metric to sort by.", code="invalid_search"
                )
            direction = "-" if order.startswith("-") else ""
            return versions.order_by(f"{direction}metric_value", "-created_at", "-id")
        return versions.order_by("-created_at", "-id")

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
        check_promotable(run, force=force, artifact=artifact)
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
            # blob between our check that the blobs exist and the commit that references them.
            with store.lock(exclusive=False):
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
                ERROR_LABEL_TAKEN.format(artifact=artifact.name, label=label), code="label_taken"
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
                version.status = "archived"
                version.save(update_fields=["status"])
                registry_model("RegistryEvent").objects.record(
                    "archive",
                    artifact=artifact,
                    version=version,
                    user=user,
                    keep_last_versions=keep,
                )
                archived.append(version)
        return archived

    def collect_garbage(self, *, dry_run: bool = False, grace_seconds: int | None = None):
        """Remove blobs and manifests no ready version references, and stale temporary files."""
        store = BlobStore(settings.MODEL_REGISTRY_PATH)
        grace = settings.REGISTRY_GC_GRACE_SECONDS if grace_seconds is None else grace_seconds
        live = self.filter(status__in=[READY, "created"])
        file_model = self.model._meta.get_field("files").related_model
        with store.lock(exclusive=True):
            report = store.collect_garbage(
                referenced_blobs=set(
                    file_model.objects.filter(version__in=live).values_list("sha256", flat=True)
                ),
                referenced_manifests=set(live.values_list("sha256", flat=True)),
                grace_seconds=grace,
                dry_run=dry_run,
            )
            if not dry_run:
                # What was known of a deleted blob says nothing of one stored again later.
                registry_model("BlobCheck").objects.filter(
                    sha256__in=[path.name for path in report.blobs]
                ).delete()
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
        artifact_model = self.model._meta.get_field("artifact").related_model
        file_model = self.model._meta.get_field("files").related_model
        with transaction.atomic():
            # Serialises promotions into one artifact, so auto labels and idempotency hold.
            locked = artifact_model.objects.select_for_update().get(pk=artifact.pk)
            existing = self.filter(artifact=locked, source_run=run, sha256=stored.digest).first()
            if existing:
                return self._repeat(existing, label, user), False
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
                commit=version_commit(locked.pk, label, stored.digest),
                size_bytes=stored.size,
                file_count=len(stored.manifest),
                tags=tags,
            )
            file_model.objects.bulk_create(
                file_model(
                    version=version, path=e.path, size_bytes=e.size, sha256=e.sha256, crc32=e.crc32
                )
                for e in stored.manifest
            )
            registry_model("VersionMetric").objects.bulk_create(
                registry_model("VersionMetric")(version=version, key=key, value=value)
                for key, value in searchable_metrics(version.metrics_json).items()
            )
            # The blobs' bytes were hashed as they were written: downloads need not hash them.
            registry_model("BlobCheck").objects.record(
                {digest: (identity, True) for digest, identity in stored.identities.items()}
            )
            version.status = READY
            version.save(update_fields=["status"])
            locked.save(update_fields=["updated_at"])
            registry_model("RegistryEvent").objects.record(
                "promotion",
                artifact=locked,
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
                code="content_already_promoted",
            )
        registry_model("RegistryEvent").objects.record(
            "promotion",
            artifact=existing.artifact,
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


def actor_name(user) -> str:
    """Return the name recorded for who did something: a user name, or empty for a script."""
    return user.get_username() if user is not None and user.is_authenticated else ""


def registry_model(name: str):
    """Return a registry model class without importing models.py (which imports this module)."""
    return apps.get_model("registry", name)


class AppendOnlyQuerySet(models.QuerySet):
    """Rows written once: bulk updates and deletes are refused."""

    def for_artifact(self, artifact):
        """Return the records of one model, newest first."""
        return self.filter(artifact=artifact).order_by("-at", "-id")

    def update(self, **kwargs):
        raise RegistryError("These records are append-only.", code="append_only")

    def delete(self):
        raise RegistryError("These records are append-only.", code="append_only")


class RegistryEventQuerySet(AppendOnlyQuerySet):
    """Reads over the audit trail."""

    def of_kind(self, kind: str | None):
        """Return events of `kind`, or all when it is empty."""
        return self.filter(kind=kind) if kind else self


class RegistryEventManager(models.Manager.from_queryset(RegistryEventQuerySet)):
    """Write the audit trail."""

    def record(self, kind: str, *, artifact, version=None, user=None, **details):
        """Append an event of `kind` for `artifact` (and `version`), by `user`, with details."""
        return self.create(
            kind=kind,
            artifact=artifact,
            version=version,
            actor=user if user is not None and user.is_authenticated else None,
            actor_name=actor_name(user),
            details=details,
        )


class ModelAliasManager(models.Manager):
    """Set, move and remove aliases and their gates, each recorded in the alias history."""

    def resolve(self, artifact, name: str):
        """Return the ready version `name` points at (`latest`: the newest); raise RegistryError."""
        versions = registry_model("ModelVersion").objects
        if name == "latest":
            version = versions.for_artifact(artifact).ready().first()
        else:
            alias = self.filter(artifact=artifact, name=name).select_related("version").first()
            version = alias.version if alias else None
        if version is None:
            raise RegistryError(
                f"{artifact.name} has no version under the alias {name!r}.", code="alias_not_found"
            )
        return version

    def point(self, artifact, name: str, version, *, user=None, reason: str = ""):
        """Point alias `name` at `version` if its gates allow; return the alias."""
        validate_label(name, what="alias")
        with transaction.atomic():
            locked = type(artifact).objects.select_for_update().get(pk=artifact.pk)
            if version.artifact_id != locked.pk:
                raise RegistryError(
                    f"Version {version.version} belongs to another model.", code="wrong_model"
                )
            if not version.is_ready:
                raise RegistryError(
                    f"Version {version.version} is {version.status}; aliases point at ready "
                    "versions only.",
                    code="version_not_ready",
                )
            alias, _ = self.get_or_create(artifact=locked, name=name)
            unmet = alias.unmet_requirements(version)
            if unmet:
                raise RegistryError(
                    f"{locked.name}@{name} cannot point at {version.version}: it requires "
                    + "; ".join(unmet)
                    + ".",
                    code="gate_unmet",
                )
            previous = alias.version
            if previous is not None and previous.pk == version.pk:
                return alias
            alias.version = version
            alias.save(update_fields=["version", "updated_at"])
            kind = "set" if previous is None else "move"
            self._history(locked, name, kind, previous, version, user, reason)
            registry_model("RegistryEvent").objects.record(
                "alias_move",
                artifact=locked,
                version=version,
                user=user,
                alias=name,
                change=kind,
                from_version=previous.version if previous else None,
                to_version=version.version,
                reason=reason,
            )
            return alias

    def remove(self, artifact, name: str, *, user=None, reason: str = ""):
        """Unset alias `name` (its gates stay); raise RegistryError when it points nowhere."""
        validate_label(name, what="alias")
        with transaction.atomic():
            locked = type(artifact).objects.select_for_update().get(pk=artifact.pk)
            alias = self.filter(artifact=locked, name=name).select_related("version").first()
            if alias is None or alias.version is None:
                raise RegistryError(
                    f"{locked.name} has no version under the alias {name!r}.",
                    code="alias_not_found",
                )
            previous = alias.version
            alias.version = None
            alias.save(update_fields=["version", "updated_at"])
            self._history(locked, name, "remove", previous, None, user, reason)
            registry_model("RegistryEvent").objects.record(
                "alias_move",
                artifact=locked,
                version=previous,
                user=user,
                alias=name,
                change="remove",
                from_version=previous.version,
                to_version=None,
                reason=reason,
            )
            return alias

    def set_gates(
        self,
        artifact,
        name: str,
        *,
        requirements,
        requires_completed_eval: bool = False,
        user=None,
        reason: str = "",
    ):
        """Replace alias `name`'s requirements (creating the alias unset if needed)."""
        validate_label(name, what="alias")
        parsed = requirements_as_json(parse_requirements(requirements))
        with transaction.atomic():
            locked = type(artifact).objects.select_for_update().get(pk=artifact.pk)
            alias, _ = self.get_or_create(artifact=locked, name=name)
            before = {
                "requirements": alias.requirements,
                "requires_completed_eval": alias.requires_completed_eval,
            }
            after = {"requirements": parsed, "requires_completed_eval": requires_completed_eval}
            if before == after:
                return alias
            alias.requirements = parsed
            alias.requires_completed_eval = requires_completed_eval
            alias.save(update_fields=["requirements", "requires_completed_eval", "updated_at"])
            self._history(
                locked,
                name,
                "gate_change",
                alias.version,
                alias.version,
                user,
                reason,
                before=before,
                after=after,
            )
            registry_model("RegistryEvent").objects.record(
                "gate_change",
                artifact=locked,
                user=user,
                alias=name,
                before=before,
                after=after,
                reason=reason,
            )
            return alias

    def _history(self, artifact, name, kind, from_version, to_version, user, reason, **details):
        registry_model("AliasChange").objects.create(
            artifact=artifact,
            alias=name,
            kind=kind,
            from_version=from_version,
            to_version=to_version,
            actor=user if user is not None and user.is_authenticated else None,
            actor_name=actor_name(user),
            reason=reason,
            details=details,
        )


class BlobCheckManager(models.Manager):
    """Remember which blobs were hashed, with what outcome, and their files' identity then."""

    def record(self, outcomes: dict[str, tuple[BlobIdentity, bool]]) -> None:
        """Store, for each digest, the identity its blob had when hashed and whether it matched."""
        if not outcomes:
            return
        now = timezone.now()
        self.bulk_create(
            [
                self.model(
                    sha256=digest,
                    ok=ok,
                    size_bytes=identity.size,
                    device=identity.device,
                    inode=identity.inode,
                    mtime_ns=identity.mtime_ns,
                    ctime_ns=identity.ctime_ns,
                    checked_at=now,
                )
                for digest, (identity, ok) in sorted(outcomes.items())
            ],
            update_conflicts=True,
            unique_fields=["sha256"],
            update_fields=[
                "ok",
                "size_bytes",
                "device",
                "inode",
                "mtime_ns",
                "ctime_ns",
                "checked_at",
            ],
        )

    def trusted(self, digests) -> dict[str, BlobIdentity]:
        """Return the identity of each of `digests` whose blob passed its last check, if trusted.

        Not when the file changed within RACY_SECONDS before the check: file timestamps may be
        as coarse as a kernel tick, so a write in that window could leave the identity unchanged
        (git's "racily clean" entries). Those are hashed again by the next download.
        """
        return {
            check.sha256: check.identity
            for check in self.filter(sha256__in=digests, ok=True)
            if check.ctime_ns <= (check.checked_at.timestamp() - RACY_SECONDS) * 1e9
        }

    def failed(self, digests) -> dict[str, BlobIdentity]:
        """Return the identity of each of `digests` whose blob failed its last check."""
        return {check.sha256: check.identity for check in self.filter(sha256__in=digests, ok=False)}
