"""Rules of `tuning.execution` that need no running Ray: how Ray is joined, what is recorded."""

from pathlib import Path
from types import SimpleNamespace

import pytest

import runs
import tuning
from tuning.execution import make_callbacks, ray_init_options
from tuning.tests.factories import TuningJobFactory


def test_joining_a_cluster_ships_our_packages_and_asks_for_no_resources():
    options = ray_init_options("10.0.0.5:6379")

    assert options["address"] == "10.0.0.5:6379"
    assert "num_cpus" not in options and "include_dashboard" not in options
    assert options["runtime_env"]["py_modules"] == [
        str(Path(runs.__file__).parent),
        str(Path(tuning.__file__).parent),
    ]


def test_without_an_address_ray_starts_here_whatever_the_environment_says(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")

    options = ray_init_options("")

    assert options["address"] == "local"
    assert options["num_cpus"] >= 1


@pytest.mark.django_db
def test_a_completed_trial_s_run_records_the_process_and_node_it_ran_in():
    job = TuningJobFactory(status="running")
    recorder, _ = make_callbacks(job)
    trial = SimpleNamespace(trial_id="abc_00000", config={"rank": 8}, last_result=None)
    recorder.on_trial_start(0, [trial], trial)
    trial.last_result = {"eval_loss": 0.2, "hostname": "node-a", "pid": 4242, "node_id": "ffee01"}

    recorder.on_trial_complete(1, [trial], trial)

    run = job.trials.get().run
    run.refresh_from_db()
    assert run.worker == "ray:abc_00000@node-a/4242 node=ffee01"
    assert run.status == "completed"
