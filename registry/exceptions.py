"""Refusals raised by the model registry, each with a machine-readable code."""

from config.exceptions import DomainError


class RegistryError(DomainError):
    """A registry operation was refused."""

    code = "registry_error"


class PromotionError(RegistryError):
    """A run cannot be promoted as asked; `code` says why."""

    code = "promotion_refused"


class StorageError(RegistryError):
    """The blob store could not read a source or write a blob; nothing partial is left visible."""

    code = "storage_failed"


class VersionImmutableError(RegistryError):
    """A ready version's content, metrics, config or provenance cannot change: only its tags."""

    code = "immutable"
