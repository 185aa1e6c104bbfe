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


class BlobCorruptedError(StorageError):
    """A stored blob's bytes no longer hash to the digest recorded for them; it is never served."""

    code = "integrity_failed"

    def __init__(
        self, message: str, *, path: str, expected: str, actual: str | None, certain: bool = True
    ):
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.actual = actual
        # False when the file changed while it was read: its bytes may still be right.
        self.certain = certain
