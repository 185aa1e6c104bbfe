"""Aliases: movable, gated names for versions, each change written with its history and event.

Every change takes the artifact's lock (`ModelArtifact.objects.lock`), validates, saves the alias,
and writes the alias history and the audit trail in one transaction (`_change`).
"""

from django.db import models, transaction

from registry.choices import AliasChangeKind, EventKind
from registry.exceptions import (
    ALIAS_NOT_FOUND,
    VERSION_NOT_READY,
    WRONG_MODEL,
    GateUnmetError,
    RegistryError,
)
from registry.gates import parse_requirements, requirements_as_json
from registry.labels import validate_label

ERROR_ALIAS_NOT_FOUND = "{artifact} has no version under the alias {alias!r}."
ERROR_WRONG_MODEL = "Version {version} belongs to another model."
ERROR_VERSION_NOT_READY = "Version {version} is {status}; aliases point at ready versions only."
ERROR_GATE_UNMET = "{artifact}@{alias} cannot point at {version}: it requires {unmet}."


class ModelAliasManager(models.Manager):
    """Set, move and remove aliases and their gates, each recorded in the alias history."""

    def resolve(self, artifact, name: str):
        """Return the ready version `name` points at (`latest`: the newest); raise RegistryError."""
        if name == "latest":
            version = artifact.versions.ready().newest_first().first()
        else:
            alias = self.filter(artifact=artifact, name=name).select_related("version").first()
            version = alias.version if alias else None
        if version is None:
            raise RegistryError(
                ERROR_ALIAS_NOT_FOUND.format(artifact=artifact.name, alias=name),
                code=ALIAS_NOT_FOUND,
            )
        return version

    def point(self, artifact, name: str, version, *, user=None, reason: str = ""):
        """Point alias `name` at `version` if its gates allow; return the alias."""
        validate_label(name, what="alias")
        with transaction.atomic():
            locked = type(artifact).objects.lock(artifact)
            if version.artifact_id != locked.pk:
                raise RegistryError(
                    ERROR_WRONG_MODEL.format(version=version.version), code=WRONG_MODEL
                )
            if not version.is_ready:
                raise RegistryError(
                    ERROR_VERSION_NOT_READY.format(version=version.version, status=version.status),
                    code=VERSION_NOT_READY,
                )
            alias, _ = self.get_or_create(artifact=locked, name=name)
            unmet = alias.unmet_requirements(version)
            if unmet:
                raise GateUnmetError(
                    ERROR_GATE_UNMET.format(
                        artifact=locked.name,
                        alias=name,
                        version=version.version,
                        unmet="; ".join(unmet),
                    ),
                    unmet=unmet,
                )
            previous = alias.version
            if previous is not None and previous.pk == version.pk:
                return alias
            alias.version = version
            kind = AliasChangeKind.SET if previous is None else AliasChangeKind.MOVE
            return self._change(
                locked, alias, kind, previous, fields=["version"], user=user, reason=reason
            )

    def remove(self, artifact, name: str, *, user=None, reason: str = ""):
        """Unset alias `name` (its gates stay); raise RegistryError when it points nowhere."""
        validate_label(name, what="alias")
        with transaction.atomic():
            locked = type(artifact).objects.lock(artifact)
            alias = self.filter(artifact=locked, name=name).select_related("version").first()
            if alias is None or alias.version is None:
                raise RegistryError(
                    ERROR_ALIAS_NOT_FOUND.format(artifact=locked.name, alias=name),
                    code=ALIAS_NOT_FOUND,
                )
            previous = alias.version
            alias.version = None
            return self._change(
                locked,
                alias,
                AliasChangeKind.REMOVE,
                previous,
                fields=["version"],
                user=user,
                reason=reason,
            )

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
            locked = type(artifact).objects.lock(artifact)
            alias, _ = self.get_or_create(artifact=locked, name=name)
            before = alias.gates()
            alias.requirements = parsed
            alias.requires_completed_eval = requires_completed_eval
            after = alias.gates()
            if before == after:
                return alias
            return self._change(
                locked,
                alias,
                AliasChangeKind.GATE_CHANGE,
                alias.version,
                fields=["requirements", "requires_completed_eval"],
                user=user,
                reason=reason,
                before=before,
                after=after,
            )

    def _change(self, artifact, alias, kind, previous, *, fields, user, reason, **details):
        """Save `alias`'s changed `fields`, then write its history entry and its audit event.

        Called inside the transaction that holds `artifact`'s lock; `previous` is the version the
        alias pointed at before.
        """
        alias.save(update_fields=[*fields, "updated_at"])
        artifact.alias_changes.record(
            alias.name,
            kind,
            from_version=previous,
            to_version=alias.version,
            user=user,
            reason=reason,
            **details,
        )
        if kind == AliasChangeKind.GATE_CHANGE:
            artifact.events.record(
                EventKind.GATE_CHANGE,
                user=user,
                alias=alias.name,
                reason=reason,
                **details,
            )
        else:
            artifact.events.record(
                EventKind.ALIAS_MOVE,
                version=alias.version or previous,
                user=user,
                alias=alias.name,
                change=kind,
                from_version=previous.version if previous else None,
                to_version=alias.version.version if alias.version else None,
                reason=reason,
            )
        return alias
