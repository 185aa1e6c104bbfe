"""Refusals raised by the tuning domain."""

from config.exceptions import DomainError


class TuningError(DomainError):
    """A tuning job cannot be created, started, cancelled or promoted as asked."""

    code = "tuning_refused"

    def __init__(self, message: str, *, code: str | None = None, errors: dict | None = None):
        super().__init__(message, code=code)
        self.errors = errors or {}
