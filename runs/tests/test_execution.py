"""Launched runs through the real task queue and worker (django-tasks-db's db_worker)."""

import json
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from runs.execution import TrainingSession
from runs.models import TunixRun
from runs.tests.factories import UserFactory
from runs.tests.queue import work_off_the_queue
from runs.trainers import lora_demo

pytestmark = pytest.mark.django_db(transaction=True)

TRAINER = "runs.trainers.lora_demo"


@pytest.fixture
def launcher(api_client):
    api_client.force_authenticate(
        UserFactory(permissions=["runs.add_tunixrun", "runs.change_tunixrun"])
    )
    return api_client


def launch(client, **config):
    return client.post(
        "/api/runs/launch", {"name": "lora", "trainer": TRAINER, "config": config}, format="json"
    )


def test_a_launched_run_is_pending_then_completed_by_the_worker(launcher):
    response = launch(launcher, learning_rate=0.05, rank=8, steps=200)
    assert response.status_code == 201, response.json()
    run = TunixRun.objects.get(pk=response.json()["id"])
    assert run.status == "pending"

    work_off_the_queue()

    run.refresh_from_db()
    output = Path(run.output_dir)
    assert run.status == "completed", run.error
    assert run.started_at and run.finished_at and run.finished_at >= run.started_at
    assert run.eval_status == "completed"
    assert set(run.metrics) >= {"loss", "eval_loss"}
    assert output == Path(run.output_dir) and output.name == str(run.pk)
    assert "done: loss" in (output / "run.log").read_text()
    assert json.loads((output / "metrics.json").read_text())["loss_per_step"]
    weights = load_file(str(output / "adapter_model.safetensors"))
    assert any(name.endswith("lora_A.weight") for name in weights)


def test_a_diverging_run_fails_with_the_error_and_traceback(launcher):
    run_id = launch(launcher, learning_rate=50.0, steps=100).json()["id"]

    work_off_the_queue()

    run = TunixRun.objects.get(pk=run_id)
    assert run.status == "failed"
    assert "Training diverged" in run.error
    assert "Traceback" in run.error
    assert "FAILED" in (Path(run.output_dir) / "run.log").read_text()


def test_a_pending_run_cancelled_before_the_worker_never_starts(launcher):
    run_id = launch(launcher).json()["id"]

    assert launcher.post(f"/api/runs/{run_id}/cancel").status_code == 200
    work_off_the_queue()

    run = TunixRun.objects.get(pk=run_id)
    assert run.status == "cancelled"
    assert run.started_at is None
    assert not Path(run.output_dir).exists()


def test_a_running_run_stops_when_cancelled(launcher, monkeypatch):
    run_id = launch(launcher, steps=20_000, learning_rate=0.01).json()["id"]
    report = TrainingSession.report

    # The cancel is written from the worker's own thread at the trainer's first report: a
    # canceller thread polling SQLite's shared in-memory test database collides with the
    # worker's table locks ("database table is locked") however it retries.
    def report_then_cancel(session, metrics):
        report(session, metrics)
        run = TunixRun.objects.get(pk=run_id)
        if run.status == "running":
            run.cancel()

    monkeypatch.setattr(TrainingSession, "report", report_then_cancel)
    work_off_the_queue()

    run = TunixRun.objects.get(pk=run_id)
    assert run.status == "cancelled"
    assert "stopped on request" in (Path(run.output_dir) / "run.log").read_text()
    assert not (Path(run.output_dir) / "adapter_model.safetensors").exists()


def test_cancelling_a_finished_run_is_refused(launcher):
    run_id = launch(launcher, steps=10).json()["id"]
    work_off_the_queue()

    response = launcher.post(f"/api/runs/{run_id}/cancel")

    assert response.status_code == 400
    assert response.json()["code"] == "illegal_transition"


def test_a_dry_run_validates_writes_no_weights_and_cannot_be_promoted(launcher):
    from registry.exceptions import PromotionError
    from registry.models import ModelVersion
    from registry.tests.factories import ModelArtifactFactory

    run_id = launch(launcher, dry_run=True, steps=20).json()["id"]
    work_off_the_queue()
    run = TunixRun.objects.get(pk=run_id)

    assert run.status == "completed"
    assert not (Path(run.output_dir) / "adapter_model.safetensors").exists()
    with pytest.raises(PromotionError) as excinfo:
        ModelVersion.objects.promote(ModelArtifactFactory(), run)
    assert excinfo.value.code == "dry_run"


def test_an_invalid_config_is_refused_per_field(launcher):
    response = launch(launcher, learning_rate=-1, rank=0)

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "config.learning_rate": "must be a positive number",
        "config.rank": "must be between 1 and 64",
    }
    assert not TunixRun.objects.exists()


def test_an_unknown_trainer_is_refused(launcher):
    response = launcher.post(
        "/api/runs/launch", {"name": "x", "trainer": "os.system", "config": {}}, format="json"
    )

    assert response.status_code == 400
    assert "Unknown trainer 'os.system'" in response.json()["detail"]


def test_launching_needs_permission(api_client):
    api_client.force_authenticate(UserFactory())

    assert launch(api_client).status_code == 403


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        ({"learning_rate": 0.05}, {"learning_rate": 0.001}),
        ({"rank": 8, "learning_rate": 0.05}, {"rank": 1, "learning_rate": 0.05}),
        ({"steps": 400, "learning_rate": 0.05}, {"steps": 20, "learning_rate": 0.05}),
    ],
)
def test_the_demo_trainers_metrics_respond_to_its_hyperparameters(tmp_path, better, worse):
    class Quiet:
        def log(self, line):
            pass

        def report(self, metrics):
            pass

        def should_stop(self):
            return False

    good = lora_demo.train(better, tmp_path / "good", Quiet())
    bad = lora_demo.train(worse, tmp_path / "bad", Quiet())

    assert good["eval_loss"] < bad["eval_loss"]


def test_a_tunix_launch_records_its_base_model_and_dataset(launcher, settings):
    from runs.demo import write_tunix_demo_inputs

    base, dataset, _ = write_tunix_demo_inputs(settings.TRAINING_INPUT_ROOTS[0])
    response = launcher.post(
        "/api/runs/launch",
        {
            "name": "tiny",
            "trainer": "runs.trainers.tunix_lora_sft",
            "config": {"base_model": str(base), "dataset": str(dataset), "base_model_name": "tiny"},
        },
        format="json",
    )

    run = TunixRun.objects.get(pk=response.json()["id"])
    assert (run.base_model_id, run.dataset_id) == ("tiny", str(dataset))


def test_the_web_process_never_imports_jax_or_tunix():
    import subprocess
    import sys

    probe = (
        "import os, sys, django, json;"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
        "django.setup();"
        "from django.urls import resolve; import config.urls;"
        "from django.core.management import call_command; call_command('check', verbosity=0);"
        "from runs.trainers import load_trainer;"
        "t = load_trainer('runs.trainers.tunix_lora_sft');"
        "from runs.forms import LaunchRunForm; LaunchRunForm();"
        "print(json.dumps(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('jax', 'jaxlib', 'flax', 'tunix', 'qwix', 'orbax', 'ray'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )

    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
