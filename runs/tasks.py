"""Background tasks of the runs app, on Django's Tasks API (the django-tasks backport)."""

from django_tasks import task

from runs.models import TunixRun


@task()
def execute_run(run_id: str) -> None:
    """Execute a launched run in a worker (`python manage.py db_worker`)."""
    run = TunixRun.objects.filter(pk=run_id).first()
    if run is not None:
        run.execute()
