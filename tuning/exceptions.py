"""Refusals raised by the tuning domain."""

from config.exceptions import DomainError, ErrorStatus
from registry.exceptions import ARTIFACT_NOT_FOUND

JOB_NOT_FINISHED = "job_not_finished"
RAY_CLIENT_REFUSED = "ray_client_refused"
RAY_CLIENT_REFUSED_MESSAGE = (
    "{address} is a Ray Client (ray://) address, which tuning jobs cannot use: through Ray Client, "
    "Ray Tune runs the search's driver, and with it the callbacks that record every trial in the "
    "database, on the cluster, where there is no connection to this app's database. "
    "Give the cluster's own address instead (host:port, as `ray start --head` prints it)."
)


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
