"""The base of every domain error: a refusal with a machine-readable `code` and a message.

Models and managers raise subclasses; they are mapped once to HTTP (`config/http_errors.py`),
to the CLI (`CommandError` in each command) and to pages (form errors).
"""


class DomainError(Exception):
    """A refusal the user can act on: a `code` for machines, a message for people."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
