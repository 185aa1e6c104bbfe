"""The real task queue in tests: django-tasks-db's worker, run until the queue is empty."""

from io import StringIO

from django.core.management import call_command
from django.db import connection
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

# A worker in batch mode stops at the first poll that finds nothing, where a running worker
# would poll again a second later: give a task queued meanwhile that second poll.
BATCH_PASSES = 3


def work_off_the_queue() -> None:
    """Run `db_worker --batch` in this process until no task is ready; fail with a task's
    traceback if one raised (the worker records it and carries on, leaving its run "pending")."""
    for _ in range(BATCH_PASSES):
        call_command(
            "db_worker",
            "--batch",
            "--no-startup-delay",
            "--no-reload",
            stdout=StringIO(),
            verbosity=0,
        )
        if not DBTaskResult.objects.ready().exists():
            break
    left = DBTaskResult.objects.ready().count()
    assert not left, f"the worker left {left} ready task(s) after {BATCH_PASSES} passes"
    failed = DBTaskResult.objects.filter(status=TaskResultStatus.FAILED)
    tracebacks = [f"{task.task_path}: {task.traceback}" for task in failed]
    assert not tracebacks, "a task raised in the worker:\n" + "\n".join(tracebacks)


def assert_queued(run_id) -> None:
    """Check that launching `run_id` queued its task (its enqueue runs on commit)."""
    queued = DBTaskResult.objects.filter(args_kwargs__args=[str(run_id)]).exists()
    assert queued, (
        f"no task was queued for run {run_id}: connection in_atomic_block="
        f"{connection.in_atomic_block}, on-commit hooks waiting={len(connection.run_on_commit)}"
    )


def queue_state() -> str:
    """Describe every task row (status, arguments, return value), for a failure's message."""
    rows = DBTaskResult.objects.values_list("status", "args_kwargs", "return_value", "worker_ids")
    return "tasks: " + "; ".join(str(row) for row in rows)
