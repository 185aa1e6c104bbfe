"""Refusals raised by the tuning domain."""

from config.exceptions import DomainError, ErrorStatus
from registry.exceptions import ARTIFACT_NOT_FOUND

JOB_NOT_FINISHED = "job_not_finished"


class TuningError(DomainError):
    """A tuning job cannot be created, started, cancelled or promoted as asked."""

    code = "tuning_refused"
    statuses = {
        ARTIFACT_NOT_FOUND: ErrorStatus.NOT_FOUND,
        JOB_NOT_FINISHED: ErrorStatus.CONFLICT,
    }

    def __init__(self, message: str, *, code: str | None = None, errors: dict | None = None):
        super().__init__(message, code=code)
        self.errors = errors or {}
