"""Background tasks of the tuning app."""

from django_tasks import task

from tuning.models import JobStatus, TuningJob


@task()
def execute_job(job_id: int) -> None:
    """Execute a tuning job in a worker (`python manage.py db_worker`)."""
    job = TuningJob.objects.filter(pk=job_id).first()
    if job is not None and job.status == JobStatus.PENDING:
        job.execute()
