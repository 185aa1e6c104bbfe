"""Refusals raised by the runs domain."""

from config.exceptions import DomainError


class RunError(DomainError):
    """A run cannot be created or changed as asked."""

    code = "invalid_run"


class RunTransitionError(RunError):
    """The life cycle does not allow the requested status change."""

    code = "illegal_transition"


class RunLaunchError(RunError):
    """A run cannot be launched: an unknown trainer or an invalid config, per field."""

    code = "invalid_launch"

    def __init__(self, message: str, *, errors: dict[str, str]):
        super().__init__(message)
        self.errors = errors
