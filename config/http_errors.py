"""The one place domain errors become HTTP responses: `{"detail": ..., "code": ...}`."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.exceptions import DomainError

# Codes whose HTTP status is not 400. Everything else a domain error says is a bad request.
HTTP_STATUS_BY_CODE = {
    "run_not_found": 404,
    "artifact_not_found": 404,
    "version_not_found": 404,
    "alias_not_found": 404,
    "label_taken": 409,
    "name_taken": 409,
    "content_already_promoted": 409,
    "blob_missing": 409,
    "not_downloadable": 409,
    "archived": 410,
    # The server could not write; the client may retry once space or the disk is back.
    "storage_failed": 503,
}


def http_status(error: DomainError) -> int:
    """Return the HTTP status a domain error maps to."""
    return HTTP_STATUS_BY_CODE.get(error.code, 400)


def api_exception_handler(exc, context):
    """Render domain errors as `{"detail", "code"}`; defer everything else to DRF."""
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code}, status=http_status(exc))
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
        return Response(
            {
                "detail": f"The request body is too large: the limit is {limit} MiB.",
                "code": "too_large",
            },
            status=413,
        )
    return exception_handler(exc, context)
