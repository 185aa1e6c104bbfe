"""The base of every domain error: a refusal with a machine-readable `code` and a message.

Models and managers raise subclasses; they are mapped once to HTTP (`config/http_errors.py`),
to the CLI (`CommandError` in each command) and to pages (form errors). Each app's
`exceptions.py` says which of its codes are not plain bad requests (`statuses`), as one of the
few kinds of refusal below, so that no HTTP layer needs to know an app's codes.
"""

import enum


class ErrorStatus(enum.Enum):
    """What kind of refusal an error is: the classes HTTP (and its clients) tell apart."""

    INVALID = "invalid"  # the request cannot be done as asked: fix it and retry
    NOT_FOUND = "not_found"  # it names something that does not exist
    CONFLICT = "conflict"  # it clashes with the current state (a label taken, a file gone bad)
    GONE = "gone"  # what it names existed and is kept no longer
    UNAVAILABLE = "unavailable"  # the server could not do it now; a retry may succeed


class DomainError(Exception):
    """A refusal the user can act on: a `code` for machines, a message for people."""

    code = "invalid"
    # The codes of this class (and its subclasses) that are not INVALID, by their status.
    statuses: dict[str, ErrorStatus] = {}

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def status(self) -> ErrorStatus:
        """Return what kind of refusal this is, from its code."""
        return self.statuses.get(self.code, ErrorStatus.INVALID)
