"""Domain errors and the one place they are mapped to HTTP.

Models and managers raise `DomainError` subclasses with a machine-readable `code`; the API turns
them into `{"detail": ..., "code": ...}` here, commands into `CommandError`, pages into form errors.
"""

from rest_framework.response import Response
from rest_framework.views import exception_handler

# Codes whose HTTP status is not 400. Everything else a domain error says is a bad request.
HTTP_STATUS_BY_CODE = {
    "run_not_found": 404,
    "artifact_not_found": 404,
    "version_not_found": 404,
    "blob_missing": 409,
    "not_downloadable": 409,
    "label_taken": 409,
    "name_taken": 409,
    "content_already_promoted": 409,
    # The server could not write; the client may retry once space or the disk is back.
    "storage_failed": 503,
}


class DomainError(Exception):
    """Base class for a refusal the user can act on: a `code` for machines, a message for people."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def http_status(self) -> int:
        """Return the HTTP status this error maps to."""
        return HTTP_STATUS_BY_CODE.get(self.code, 400)


def api_exception_handler(exc, context):
    """Render domain errors as `{"detail", "code"}`; defer everything else to DRF."""
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.http_status)
    return exception_handler(exc, context)
