"""Version queries: ready versions, a model's versions, Hub revisions and metric search."""

import re

from django.db import models

from registry.choices import PROMOTED_STATUSES, VersionStatus
from registry.exceptions import (
    INVALID_SEARCH,
    REVISION_NOT_FOUND,
    RegistryError,
    VersionImmutableError,
)
from registry.labels import LABEL_PATTERN

# A Hub commit id: clients treat a revision of this shape as immutable and skip asking for it.
COMMIT_ID = re.compile(r"[0-9a-f]{40}")
ERROR_NO_REVISION = "{artifact} has no revision {revision!r}."
ERROR_UNKNOWN_REVISION = (
    "{artifact} has no revision {revision!r}: it is no version label, alias or commit id of this "
    "model."
)
ERROR_ORDER_NEEDS_METRIC = "order=metric needs a metric to sort by."
ERROR_BULK_CHANGE = "Ready versions are immutable: only tags can change (tried to change {fields})."
ERROR_BULK_DELETE = "Ready versions are never deleted."


class ModelVersionQuerySet(models.QuerySet):
    """Reads over versions; writes that would break immutability are refused."""

    def ready(self):
        """Return versions whose files are all stored: the only ones that can be downloaded."""
        return self.filter(status=VersionStatus.READY)

    def promoted(self):
        """Return versions that were ready once (ready or archived): immutable and undeletable."""
        return self.filter(status__in=PROMOTED_STATUSES)

    def live(self):
        """Return versions whose blobs the garbage collector keeps: ready, or being promoted."""
        return self.filter(status__in=[VersionStatus.READY, VersionStatus.CREATED])

    def newest_first(self):
        """Return these versions newest first."""
        return self.order_by("-created_at", "-id")

    def for_artifact(self, artifact):
        """Return the versions of `artifact`, newest first."""
        return self.filter(artifact=artifact).newest_first()

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
                ERROR_NO_REVISION.format(artifact=artifact.name, revision=revision[:100]),
                code=REVISION_NOT_FOUND,
            )
        versions = self.filter(artifact=artifact).promoted()
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
                ERROR_UNKNOWN_REVISION.format(artifact=artifact.name, revision=revision),
                code=REVISION_NOT_FOUND,
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
                raise RegistryError(ERROR_ORDER_NEEDS_METRIC, code=INVALID_SEARCH)
            direction = "-" if order.startswith("-") else ""
            return versions.order_by(f"{direction}metric_value", "-created_at", "-id")
        return versions.newest_first()

    def update(self, **kwargs):
        """Update these versions; refuse what the promoted ones among them may not take."""
        changes = {
            self.model._meta.get_field(name).attname: value for name, value in kwargs.items()
        }
        refused = self.model.refused_changes(changes, by_registry=True)
        if refused and self.promoted().exists():
            raise VersionImmutableError(ERROR_BULK_CHANGE.format(fields=", ".join(refused)))
        return super().update(**kwargs)

    def delete(self):
        """Delete these versions; refuse when any of them was promoted."""
        if self.promoted().exists():
            raise VersionImmutableError(ERROR_BULK_DELETE)
        return super().delete()
