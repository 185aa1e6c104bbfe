"""OpenAPI post-processing: every operation documents the error responses it can give."""

ERROR_SCHEMA = {
    "type": "object",
    "description": (
        'Every refusal: `{"detail": "...", "code": "..."}`; invalid input also carries the '
        'per-field messages, `"errors": {"field": ["..."]}`.'
    ),
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": True},
    },
    "required": ["detail", "code"],
    "additionalProperties": True,
}
ERRORS = {
    "400": "Invalid input or a refusal by the domain rules.",
    "401": "Not authenticated.",
    "403": "Not allowed (missing permission, CSRF, or downloads disabled).",
    "404": "No such object.",
    "409": "Conflict with the current state (a label taken, content already promoted).",
    "410": "Gone (an archived version's files).",
    "413": "Request body too large.",
    "429": "Throttled, or too many failed log-ins.",
    "503": "The store could not write; retry later.",
}


def document_errors(result, generator, request, public):
    """Add the shared error responses to every operation that does not define them itself."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                )
    return result
