"""The audit trail and the alias history: append-only records of who did what, when and why."""

from django.db import models

from registry.choices import AliasChangeKind
from registry.exceptions import APPEND_ONLY, ERROR_APPEND_ONLY, RegistryError


def actor_name(user) -> str:
    """Return the name recorded for who did something: a user name, or empty for a script."""
    return user.get_username() if user is not None and user.is_authenticated else ""


def actor_fields(user) -> dict:
    """Return who did something as the records store it: the user (None for a script), a name."""
    known = user is not None and user.is_authenticated
    return {"actor": user if known else None, "actor_name": actor_name(user)}


class AppendOnlyQuerySet(models.QuerySet):
    """Rows written once: bulk updates and deletes are refused."""

    def for_artifact(self, artifact):
        """Return the records of one model, newest first."""
        return self.filter(artifact=artifact).order_by("-at", "-id")

    def update(self, **kwargs):
        """Refuse: these records are never changed."""
        raise RegistryError(
            ERROR_APPEND_ONLY.format(records=self.model._meta.verbose_name), code=APPEND_ONLY
        )

    def delete(self):
        """Refuse: these records are never deleted."""
        raise RegistryError(
            ERROR_APPEND_ONLY.format(records=self.model._meta.verbose_name), code=APPEND_ONLY
        )


class RegistryEventQuerySet(AppendOnlyQuerySet):
    """Reads over the audit trail."""

    def of_kind(self, kind: str | None):
        """Return events of `kind`, or all when it is empty."""
        return self.filter(kind=kind) if kind else self


class RegistryEventManager(models.Manager.from_queryset(RegistryEventQuerySet)):
    """Write the audit trail."""

    def record(self, kind: str, *, artifact=None, version=None, user=None, **details):
        """Append an event of `kind` for `artifact` (and `version`), by `user`, with details.

        Called as `artifact.events.record(...)`, the artifact is the related manager's.
        """
        return self.create(
            kind=kind, artifact=artifact, version=version, details=details, **actor_fields(user)
        )


class AliasChangeQuerySet(AppendOnlyQuerySet):
    """Reads over the alias history."""

    def of_alias(self, artifact, name: str):
        """Return the history of `artifact`'s alias `name`, newest first, with its versions."""
        return (
            self.for_artifact(artifact)
            .filter(alias=name)
            .select_related("from_version", "to_version")
        )

    def moves(self):
        """Return the changes of where aliases point (gate changes left out)."""
        return self.exclude(kind=AliasChangeKind.GATE_CHANGE)

    def as_of(self, moment):
        """Return the last move at or before `moment`, or None: what the alias held then."""
        return self.moves().filter(at__lte=moment).order_by("-at", "-id").first()

    def oldest_first(self):
        """Return these changes oldest first, as a history is read."""
        return self.order_by("at", "id")


class AliasChangeManager(models.Manager.from_queryset(AliasChangeQuerySet)):
    """Write the alias history."""

    def record(self, name: str, kind: str, *, from_version, to_version, user, reason, **details):
        """Append one change of alias `name`; called as `artifact.alias_changes.record(...)`."""
        return self.create(
            alias=name,
            kind=kind,
            from_version=from_version,
            to_version=to_version,
            reason=reason,
            details=details,
            **actor_fields(user),
        )
