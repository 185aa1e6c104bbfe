import pytest
from django.db import IntegrityError, transaction

from runs.lifecycle import RunStatus
from runs.tests.factories import TunixRunFactory
from tuning.exceptions import TuningError
from tuning.models import JobStatus
from tuning.tests.factories import TuningJobFactory

pytestmark = pytest.mark.django_db


def test_a_job_lives_the_run_life_cycle():
    job = TuningJobFactory()

    job.move_to(JobStatus.RUNNING)
    assert job.started_at is not None
    assert job.finished_at is None

    job.move_to(JobStatus.COMPLETED, error="")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.finished_at >= job.started_at


@pytest.mark.parametrize(
    ("start", "target"),
    [("completed", "running"), ("pending", "completed"), ("cancelled", "failed")],
)
def test_a_job_refuses_the_transitions_a_run_refuses(start, target):
    job = TuningJobFactory(status=start)

    with pytest.raises(TuningError) as excinfo:
        job.move_to(target, error="never saved")

    assert excinfo.value.code == "illegal_transition"
    assert f"A tuning job that is {start} cannot become {target}" in excinfo.value.message
    job.refresh_from_db()
    assert job.status == start
    assert job.error == ""


def test_moving_a_job_to_its_own_status_only_records_the_error():
    job = TuningJobFactory(status=JobStatus.RUNNING)

    job.move_to(JobStatus.RUNNING, error="a trial is slow")

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.error == "a trial is slow"


def test_cancelling_a_job_cancels_its_running_trial_runs():
    job = TuningJobFactory(status=JobStatus.RUNNING)
    running = TunixRunFactory(status=RunStatus.RUNNING)
    finished = TunixRunFactory(status=RunStatus.COMPLETED)
    job.trials.create(run=running, status=RunStatus.RUNNING, ray_trial_id="a")
    job.trials.create(run=finished, status=RunStatus.RUNNING, ray_trial_id="b")

    job.cancel()

    job.refresh_from_db()
    running.refresh_from_db()
    finished.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.finished_at is not None
    assert running.status == RunStatus.CANCELLED
    assert finished.status == RunStatus.COMPLETED


@pytest.mark.parametrize("finished", [JobStatus.COMPLETED, JobStatus.CANCELLED])
def test_cancelling_a_finished_job_is_refused(finished):
    job = TuningJobFactory(status=finished)

    with pytest.raises(TuningError) as excinfo:
        job.cancel()

    assert excinfo.value.code == "illegal_transition"


def test_the_database_refuses_an_unknown_job_status():
    with pytest.raises(IntegrityError), transaction.atomic():
        TuningJobFactory(status="paused")
