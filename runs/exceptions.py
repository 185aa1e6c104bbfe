"""Refusals raised by the runs domain."""

from config.exceptions import DomainError


class RunError(DomainError):
    """A run cannot be created or changed as asked."""

    code = "invalid_run"


class RunTransitionError(RunError):
    """The life cycle does not allow the requested status change."""

    code = "illegal_transition"
