"""The life cycle of runs and tuning jobs: statuses, the transitions between them, in one table.

`LifeCycle` is the abstract model both `TunixRun` and `TuningJob` live by: one `move_to` applies
a status change (with its timestamps and error) under the table's rules, one `cancel` stops a
pending or running record, and one `CancelWatch` lets the code executing it notice a cancel
without a query per training step.
"""

import time

from django.db import OperationalError, models
from django.utils import timezone

from config.exceptions import DomainError
from runs.exceptions import RunTransitionError


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class EvalStatus(models.TextChoices):
    NONE = "none", "None"
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


# Terminal states lead nowhere: a finished run is a record, not a thing to restart.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}
TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})

ERROR_ILLEGAL_TRANSITION = "A {noun} that is {current} cannot become {target}{allowed}."


class LifeCycle(models.Model):
    """A record that lives pending → running → completed, failed or cancelled, and says when."""

    # How messages name the record ("A run that is completed cannot become running").
    lifecycle_noun = "run"
    # What a refused move raises: each domain keeps its own error class, with one code.
    transition_error_class: type[DomainError] = RunTransitionError

    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=RunStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
        ]

    @property
    def is_finished(self) -> bool:
        """Return whether the record has reached a terminal status."""
        return self.status in TERMINAL_STATUSES

    def can_transition_to(self, status: str) -> bool:
        """Return whether the life cycle allows moving from the current status to `status`.

        Staying is allowed: a worker that reports `running` again only records its other news.
        """
        return status == self.status or status in ALLOWED_TRANSITIONS.get(self.status, ())

    def transition_error(self, status: str) -> str:
        """Return the message explaining why `status` cannot follow the current one."""
        allowed = sorted(ALLOWED_TRANSITIONS.get(self.status, ()))
        hint = f" (it can become: {', '.join(allowed)})" if allowed else " (it is finished)"
        return ERROR_ILLEGAL_TRANSITION.format(
            noun=self.lifecycle_noun, current=self.status, target=status, allowed=hint
        )

    def transition_refused(self, status: str) -> DomainError:
        """Return the error that refuses `status`, in the record's domain, with one code."""
        return self.transition_error_class(
            self.transition_error(status), code=RunTransitionError.code
        )

    def move_to(self, status: str, *, error: str | None = None, **fields):
        """Move to `status` and save it with `error` and `fields`, only those that are given.

        Raise the record's transition error, changing nothing, if the life cycle forbids it.
        """
        if not self.can_transition_to(status):
            raise self.transition_refused(status)
        changed: list[str] = []
        if status != self.status:
            now = timezone.now()
            if status == RunStatus.RUNNING and self.started_at is None:
                self.started_at = now
                changed.append("started_at")
            if status in TERMINAL_STATUSES:
                self.finished_at = now
                changed.append("finished_at")
            self.status = status
            changed.append("status")
        for field, value in {"error": error, **fields}.items():
            if value is not None:
                setattr(self, field, value)
                changed.append(field)
        if changed:
            self.save(update_fields=[*changed, "updated_at"])
        return self

    def cancel(self):
        """Cancel a pending or running record; refuse a finished one, cancelled included.

        Whatever executes it stops at its next `CancelWatch` check.
        """
        if self.is_finished:
            raise self.transition_refused(RunStatus.CANCELLED)
        return self.move_to(RunStatus.CANCELLED)

    def cancel_watch(self) -> "CancelWatch":
        """Return a cheap check of whether this record has been cancelled meanwhile."""
        return CancelWatch(self)


class CancelWatch:
    """Answer "was it cancelled?" for a record being executed, querying at most twice a second.

    Training loops and Ray Tune's stopper ask at every step; a busy database answers "not yet"
    rather than failing the training, and the next check asks again.
    """

    INTERVAL_SECONDS = 0.5

    def __init__(self, record: LifeCycle):
        self.record = record
        self._last_check = 0.0
        self._cancelled = False

    def __call__(self) -> bool:
        """Return whether the record's status in the database is cancelled."""
        now = time.monotonic()
        if not self._cancelled and now - self._last_check >= self.INTERVAL_SECONDS:
            self._last_check = now
            rows = type(self.record)._default_manager.filter(pk=self.record.pk)
            try:
                status = rows.values_list("status", flat=True).first()
            except OperationalError:
                return False  # busy database: look again at the next check
            self._cancelled = status == RunStatus.CANCELLED
        return self._cancelled
