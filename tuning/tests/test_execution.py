"""Real Ray Tune jobs of lora_demo trials, end to end on the CPU."""

import time

import pytest

from registry.models import ModelVersion
from registry.tests.factories import ModelArtifactFactory
from runs.models import TunixRun
from runs.tests.queue import work_off_the_queue
from tuning.exceptions import TuningError
from tuning.execution import make_callbacks
from tuning.models import TuningJob
from tuning.tests.factories import TuningJobFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _ray(ray_cluster):
    return ray_cluster


def test_a_job_of_four_trials_runs_end_to_end_and_keeps_the_best(settings):
    job = TuningJobFactory()

    job.execute()

    job.refresh_from_db()
    trials = list(job.trials.select_related("run"))
    assert job.status == "completed", job.error
    assert len(trials) == 4
    assert {t.status for t in trials} == {"completed"}
    assert all(t.run.status == "completed" and t.run.eval_status == "completed" for t in trials)
    best = min(trials, key=lambda t: t.metric_value)
    assert job.best_trial == best
    assert best.params == {"learning_rate": 0.05, "rank": 8}
    assert (settings.RUNS_ROOT / str(best.run.pk) / "adapter_model.safetensors").is_file()


def test_mode_max_picks_the_highest_metric():
    job = TuningJobFactory(mode="max", search_space={"rank": {"type": "grid", "values": [1, 8]}})

    job.execute()

    job.refresh_from_db()
    values = sorted(t.metric_value for t in job.trials.all())
    assert job.best_trial.metric_value == values[-1]


def test_a_failing_trial_fails_that_trial_not_the_job():
    job = TuningJobFactory(search_space={"learning_rate": {"type": "grid", "values": [0.05, 80.0]}})

    job.execute()

    job.refresh_from_db()
    failed = job.trials.get(params__learning_rate=80.0)
    assert job.status == "completed"
    assert failed.status == "failed"
    assert "Training diverged" in failed.run.error
    assert job.best_trial.params == {"learning_rate": 0.05}


def test_a_job_whose_trials_all_fail_completes_without_a_best_trial():
    job = TuningJobFactory(search_space={"learning_rate": {"type": "grid", "values": [80.0]}})

    job.execute()

    job.refresh_from_db()
    assert job.status == "completed"
    assert job.best_trial is None
    assert "No trial succeeded" in job.error
    with pytest.raises(TuningError) as excinfo:
        job.promote_best(ModelArtifactFactory())
    assert excinfo.value.code == "no_successful_trial"


def test_cancelling_a_running_job_stops_it():
    job = TuningJobFactory(
        base_config={"steps": 20_000, "learning_rate": 0.001},
        search_space={"seed": {"type": "grid", "values": [1, 2, 3, 4]}},
        max_concurrent_trials=1,
    )

    cancelled = []

    # The cancel is written from the driver's own thread as the first trial starts: a canceller
    # thread polling SQLite's shared in-memory test database collides with the driver's writes.
    def cancel_at_the_first_trial(job_seen, record, event, finished):
        if event == "started" and not cancelled:
            TuningJob.objects.get(pk=job.pk).cancel()
            cancelled.append(record.ray_trial_id)

    started = time.monotonic()
    job.execute(progress=cancel_at_the_first_trial)

    assert cancelled, "the job finished before a trial started"
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert time.monotonic() - started < 150
    assert job.trials.count() < 4
    assert not job.trials.filter(status="running").exists()


def test_promote_best_records_the_job_and_trial_in_provenance():
    job = TuningJobFactory(search_space={"learning_rate": {"type": "grid", "values": [0.05]}})
    job.execute()
    job.refresh_from_db()

    version, created = job.promote_best(ModelArtifactFactory(), tags=["tuned"])

    assert created
    assert version.source_run == job.best_trial.run
    assert version.provenance_json["tuning_job_id"] == job.pk
    assert version.provenance_json["tuning_trial_id"] == job.best_trial.pk
    assert version.tags == ["tuned"]
    assert ModelVersion.objects.count() == 1


def test_trial_runs_are_real_runs():
    job = TuningJobFactory(search_space={"rank": {"type": "choice", "values": [4]}})

    job.execute()

    run = TunixRun.objects.get(trials__job=job)
    assert run.trainer == "runs.trainers.lora_demo"
    assert run.config["rank"] == 4 and run.config["steps"] == 150
    assert run.started_at and run.finished_at


def test_the_tune_command_runs_a_job_in_the_foreground(tmp_path):
    import json
    from io import StringIO

    from django.core.management import call_command

    space = tmp_path / "space.json"
    space.write_text(json.dumps({"learning_rate": {"type": "grid", "values": [0.01, 0.05]}}))
    out = StringIO()

    call_command(
        "tune",
        "--trainer",
        "runs.trainers.lora_demo",
        "--space",
        str(space),
        "--samples",
        "1",
        stdout=out,
    )

    printed = out.getvalue()
    assert "[2 done]" in printed
    assert "Best trial" in printed and "'learning_rate': 0.05" in printed
    assert TuningJob.objects.get().status == "completed"


def test_a_started_job_is_executed_by_the_worker():
    job = TuningJobFactory(search_space={"rank": {"type": "grid", "values": [2, 8]}})
    job.start()

    work_off_the_queue()

    job.refresh_from_db()
    assert job.status == "completed", job.error
    assert job.trials.filter(status="completed").count() == 2


def test_a_tunix_search_runs_trials_on_ray_and_ships_the_best_adapter(settings):
    from runs.demo import write_tunix_demo_inputs

    base, dataset, _ = write_tunix_demo_inputs(settings.TRAINING_INPUT_ROOTS[0])
    job = TuningJobFactory(
        trainer="runs.trainers.tunix_lora_sft",
        base_config={"base_model": str(base), "dataset": str(dataset), "steps": 20},
        search_space={"learning_rate": {"type": "grid", "values": [0.0003, 0.01]}},
    )

    job.execute()

    job.refresh_from_db()
    trials = list(job.trials.select_related("run"))
    assert job.status == "completed", job.error
    assert [t.status for t in trials] == ["completed", "completed"], [t.run.error for t in trials]
    assert all(len(t.run.loss_curve()) == 20 for t in trials)
    assert job.best_trial.params == {"learning_rate": 0.01}
    version, _ = job.promote_best(ModelArtifactFactory())
    assert version.layout == "lora_adapter"
    assert {f.path for f in version.files.all()} >= {
        "adapter_config.json",
        "adapter_model.safetensors",
    }


def test_the_stopper_stops_every_trial_once_the_job_is_cancelled_elsewhere():
    job = TuningJobFactory(status="running")
    _, stopper = make_callbacks(job)
    assert not stopper.stop_all()
    assert not stopper("trial_1", {"loss": 0.5})

    TuningJob.objects.get(pk=job.pk).cancel()
    stopper.cancelled._last_check = 0.0  # as if half a second had passed

    assert stopper.stop_all()
    assert stopper("trial_1", {"loss": 0.4})
