"""The real task queue in tests: django-tasks-db's worker, run until the queue is empty."""

from io import StringIO

from django.core.management import call_command
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult


def work_off_the_queue() -> None:
    """Run `db_worker --batch` in this process; fail with its traceback if a task raised.

    The worker records a task's exception on its row and carries on, so without this a task
    that died before touching its run would show up only as a run still "pending".
    """
    call_command(
        "db_worker", "--batch", "--no-startup-delay", "--no-reload", stdout=StringIO(), verbosity=0
    )
    failed = DBTaskResult.objects.filter(status=TaskResultStatus.FAILED)
    tracebacks = [f"{task.task_path}: {task.traceback}" for task in failed]
    assert not tracebacks, "a task raised in the worker:\n" + "\n".join(tracebacks)
