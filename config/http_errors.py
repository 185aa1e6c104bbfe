"""The one place domain errors become HTTP responses: `{"detail": ..., "code": ...}`."""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.exceptions import DomainError, ErrorStatus

# Each app's exceptions say what kind of refusal a code is; this is the one map of kinds to HTTP.
HTTP_STATUS = {
    ErrorStatus.INVALID: 400,
    ErrorStatus.NOT_FOUND: 404,
    ErrorStatus.CONFLICT: 409,
    ErrorStatus.GONE: 410,
    # The server could not write; the client may retry once space or the disk is back.
    ErrorStatus.UNAVAILABLE: 503,
}


def http_status(error: DomainError) -> int:
    """Return the HTTP status a domain error maps to."""
    return HTTP_STATUS[error.status]


def api_exception_handler(exc, context):
    """Render domain errors as `{"detail", "code"}`; defer everything else to DRF."""
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code}
        if getattr(exc, "errors", None):
            body["errors"] = exc.errors  # field-level detail, such as a config's bad keys
        return Response(body, status=http_status(exc))
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
        return Response(
            {
                "detail": f"The request body is too large: the limit is {limit} MiB.",
                "code": "too_large",
            },
            status=413,
        )
    # As DRF's handler does, so that these get the documented shape too.
    if isinstance(exc, Http404):
        exc = NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = PermissionDenied(*exc.args)
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, APIException):
        response.data = api_error_body(exc)
    return response


def api_error_body(exc: APIException) -> dict:
    """Return DRF's own refusals in the documented shape, field messages under `errors`.

    DRF answers a serializer error as `{"field": ["message"]}` and the rest as `{"detail": ...}`;
    clients then need two parsers. One shape: `detail` for people, `code` for machines, and for
    validation errors the per-field messages (DRF's structure, unchanged) under `errors`.
    """
    if isinstance(exc, ValidationError):
        return {
            "detail": validation_summary(exc.detail),
            "code": "invalid",
            "errors": exc.detail
            if isinstance(exc.detail, dict)
            else {"non_field_errors": exc.detail},
        }
    codes = exc.get_codes()
    return {"detail": str(exc.detail), "code": codes if isinstance(codes, str) else "error"}


def validation_summary(detail) -> str:
    """Return one sentence naming each invalid field and its first message."""
    if isinstance(detail, dict):
        parts = []
        for field, messages in detail.items():
            message = validation_summary(messages)
            parts.append(message if field == "non_field_errors" else f"{field}: {message}")
        return "; ".join(parts) or "Invalid input."
    if isinstance(detail, list):
        return validation_summary(detail[0]) if detail else "Invalid input."
    return str(detail)


def not_found(request, exception=None):
    """Answer 404 in JSON under /api/ (a URL no route matches) and as the page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """Answer 500 in JSON under /api/, so clients always get the documented shape."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": "The server failed; the error was logged.", "code": "server_error"},
            status=500,
        )
    return defaults.server_error(request)
