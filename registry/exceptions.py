"""Refusals raised by the model registry, each with a machine-readable code.

The codes that callers (and tests) tell apart are constants here; `RegistryError.statuses` says
which of them are not plain bad requests.
"""

from config.exceptions import DomainError, ErrorStatus

# Not found.
ARTIFACT_NOT_FOUND = "artifact_not_found"
VERSION_NOT_FOUND = "version_not_found"
ALIAS_NOT_FOUND = "alias_not_found"
REVISION_NOT_FOUND = "revision_not_found"
ENTRY_NOT_FOUND = "entry_not_found"
RUN_NOT_FOUND = "run_not_found"
# Conflicts with what the registry holds.
NAME_TAKEN = "name_taken"
REPO_ID_TAKEN = "repo_id_taken"
LABEL_TAKEN = "label_taken"
CONTENT_ALREADY_PROMOTED = "content_already_promoted"
BLOB_MISSING = "blob_missing"
# A stored file no longer matches its digest: refused, never served; `verify_version` tells.
INTEGRITY_FAILED = "integrity_failed"
NOT_DOWNLOADABLE = "not_downloadable"
# Gone: retired by retention.
ARCHIVED = "archived"
# Unavailable: the server could not write; the client may retry once space or the disk is back.
STORAGE_FAILED = "storage_failed"
# Plain refusals.
IMMUTABLE = "immutable"
APPEND_ONLY = "append_only"
WRONG_MODEL = "wrong_model"
VERSION_NOT_READY = "version_not_ready"
GATE_UNMET = "gate_unmet"
INVALID_SEARCH = "invalid_search"

ERROR_APPEND_ONLY = "{records} records are append-only."


class RegistryError(DomainError):
    """A registry operation was refused."""

    code = "registry_error"
    statuses = {
        ARTIFACT_NOT_FOUND: ErrorStatus.NOT_FOUND,
        VERSION_NOT_FOUND: ErrorStatus.NOT_FOUND,
        ALIAS_NOT_FOUND: ErrorStatus.NOT_FOUND,
        REVISION_NOT_FOUND: ErrorStatus.NOT_FOUND,
        ENTRY_NOT_FOUND: ErrorStatus.NOT_FOUND,
        RUN_NOT_FOUND: ErrorStatus.NOT_FOUND,
        NAME_TAKEN: ErrorStatus.CONFLICT,
        REPO_ID_TAKEN: ErrorStatus.CONFLICT,
        LABEL_TAKEN: ErrorStatus.CONFLICT,
        CONTENT_ALREADY_PROMOTED: ErrorStatus.CONFLICT,
        BLOB_MISSING: ErrorStatus.CONFLICT,
        INTEGRITY_FAILED: ErrorStatus.CONFLICT,
        NOT_DOWNLOADABLE: ErrorStatus.CONFLICT,
        ARCHIVED: ErrorStatus.GONE,
        STORAGE_FAILED: ErrorStatus.UNAVAILABLE,
    }


class PromotionError(RegistryError):
    """A run cannot be promoted as asked; `code` says why."""

    code = "promotion_refused"


class StorageError(RegistryError):
    """The blob store could not read a source or write a blob; nothing partial is left visible."""

    code = STORAGE_FAILED


class VersionImmutableError(RegistryError):
    """A promoted version's content, metrics, config or provenance cannot change: only its tags."""

    code = IMMUTABLE


class BlobCorruptedError(StorageError):
    """A stored blob's bytes no longer hash to the digest recorded for them; it is never served."""

    code = INTEGRITY_FAILED

    def __init__(
        self, message: str, *, path: str, expected: str, actual: str | None, certain: bool = True
    ):
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.actual = actual
        # False when the file changed while it was read: its bytes may still be right.
        self.certain = certain


class GateUnmetError(RegistryError):
    """An alias's gate refuses a version; `unmet` names each requirement and the version's value."""

    code = GATE_UNMET

    def __init__(self, message: str, *, unmet: list[str]):
        super().__init__(message)
        self.unmet = unmet
        self.errors = {"unmet": unmet}  # the API shows each one beside the sentence
