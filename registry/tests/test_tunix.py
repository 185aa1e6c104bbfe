"""Tunix output in the registry: a real run launched through the worker, promoted, downloaded and
reloaded; Orbax steps promoted from runs trained elsewhere."""

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from registry.exceptions import PromotionError
from registry.models import ModelVersion
from registry.tests.factories import ModelArtifactFactory
from runs.demo import write_tunix_demo_inputs
from runs.models import RunProgress, TunixRun
from runs.tests.factories import TunixRunFactory
from runs.tests.queue import assert_queued, queue_state, work_off_the_queue

TRAINER = "runs.trainers.tunix_lora_sft"


def record_what_the_database_holds(monkeypatch) -> list:
    """Note the run's stored (status, step) each time the worker records progress."""
    seen, report = [], RunProgress.report

    def report_and_look(progress, metrics):
        report(progress, metrics)
        # The worker's own connection: another thread would lock SQLite's shared test database.
        row = TunixRun.objects.values("status", "metrics").get(pk=progress.run.pk)
        seen.append((row["status"], row["metrics"].get("step")))

    monkeypatch.setattr(RunProgress, "report", report_and_look)
    return seen


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_tunix_run_launched_over_the_api_trains_promotes_downloads_and_reloads(
    curator_client, settings, downloads_enabled, monkeypatch
):
    from runs.tests.tunix_logits import adapter_logits, trained_logits

    base, dataset = write_tunix_demo_inputs(settings.TRAINING_INPUT_ROOTS[0])[:2]
    config = {"base_model": str(base), "dataset": str(dataset), "steps": 60}
    launched = curator_client.post(
        "/api/runs/launch", {"name": "tiny", "trainer": TRAINER, "config": config}, format="json"
    )
    assert launched.status_code == 201, launched.json()
    run_id, seen = launched.json()["id"], record_what_the_database_holds(monkeypatch)
    assert_queued(run_id)

    work_off_the_queue()

    run = TunixRun.objects.get(pk=run_id)
    output = Path(run.output_dir)
    assert run.status == "completed", run.error or queue_state()
    assert any(status == "running" and step for status, step in seen), "no metric while running"
    curve = run.loss_curve()
    assert len(curve) == 60 and curve[-1] < 0.75 * curve[0]
    assert run.metrics["eval_loss"] < 4.0 and run.metrics["steps"] == 60
    assert (output / "checkpoints" / "60" / "commit_success.txt").is_file()
    assert (output / "final_model" / "adapter_model.safetensors").is_file()

    artifact = ModelArtifactFactory()
    promoted = curator_client.post(
        f"/api/models/{artifact.pk}/versions/promote", {"source_run_id": run_id}, format="json"
    )
    assert promoted.status_code == 201, promoted.json()
    version = ModelVersion.objects.get(pk=promoted.json()["id"])
    assert version.layout == "lora_adapter"
    download = curator_client.get(f"/api/models/versions/{version.pk}/download")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    unpacked = Path(settings.MEDIA_ROOT) / "downloaded"
    archive.extractall(unpacked)
    for entry in version.files.all():
        assert hashlib.sha256((unpacked / entry.path).read_bytes()).hexdigest() == entry.sha256

    adapter = json.loads((unpacked / "adapter_config.json").read_text())
    trained = trained_logits(
        base,
        output / "checkpoints",
        rank=adapter["r"],
        alpha=adapter["lora_alpha"],
        targets=adapter["target_modules"],
    )
    np.testing.assert_allclose(adapter_logits(base, unpacked), trained, atol=1e-5)


@pytest.mark.django_db
def test_a_tunix_run_outside_the_input_roots_is_refused(curator_client, tmp_path):
    base, dataset = write_tunix_demo_inputs(tmp_path)[:2]
    config = {"base_model": str(base), "dataset": str(dataset)}

    response = curator_client.post(
        "/api/runs/launch", {"name": "x", "trainer": TRAINER, "config": config}, format="json"
    )

    assert response.status_code == 400
    assert "outside the training input roots" in json.dumps(response.json())
    assert not TunixRun.objects.exists()


# ---- Orbax steps of a run trained elsewhere ---------------------------------------------------


def orbax_step(checkpoints: Path, step: int, *, complete: bool = True) -> Path:
    """Write a small Orbax-shaped step directory; `complete` adds Orbax's commit marker."""
    directory = checkpoints / str(step)
    (directory / "model_params" / "d").mkdir(parents=True)
    (directory / "model_params" / "d" / "0123abcd").write_bytes(bytes([step % 251]) * 4096)
    (directory / "model_params" / "_METADATA").write_text(json.dumps({"step": step}))
    (directory / "_CHECKPOINT_METADATA").write_text("{}")
    if complete:
        (directory / "commit_success.txt").write_text(f"Checkpoint commit was successful to {step}")
    return directory


@pytest.mark.django_db
def test_a_tunix_output_without_export_promotes_its_latest_complete_orbax_step(runs_root):
    checkpoints = runs_root / "elsewhere" / "checkpoints"
    orbax_step(checkpoints, 10)
    orbax_step(checkpoints, 20)
    orbax_step(checkpoints, 30, complete=False)  # the newest, still being written
    (checkpoints / "40.orbax-checkpoint-tmp-1795600101").mkdir()
    run = TunixRunFactory(completed=True, output_dir=str(runs_root / "elsewhere"))

    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert version.layout == "orbax_checkpoint"
    assert version.provenance_json["orbax_step"] == 20
    assert version.provenance_json["source_dir"] == str(checkpoints / "20")
    assert {f.path for f in version.files.all()} >= {
        "commit_success.txt",
        "model_params/d/0123abcd",
    }


@pytest.mark.django_db
def test_steps_directly_under_the_output_directory_are_found_too(runs_root):
    orbax_step(runs_root / "flat", 7)
    run = TunixRunFactory(completed=True, output_dir=str(runs_root / "flat"))

    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert version.provenance_json["orbax_step"] == 7


@pytest.mark.django_db
def test_an_output_with_only_incomplete_orbax_steps_is_refused(runs_root):
    checkpoints = runs_root / "partial" / "checkpoints"
    orbax_step(checkpoints, 10, complete=False)
    (checkpoints / "20.orbax-checkpoint-tmp-1795600101").mkdir()
    run = TunixRunFactory(completed=True, output_dir=str(runs_root / "partial"))

    with pytest.raises(PromotionError) as refused:
        ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert refused.value.code == "orbax_incomplete"
    assert "10, 20.orbax-checkpoint-tmp-1795600101" in refused.value.message
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_a_final_model_export_wins_over_the_orbax_steps(runs_root, tunix_trained):
    output = runs_root / "trained"
    shutil.copytree(tunix_trained["output"], output)
    run = TunixRunFactory(completed=True, output_dir=str(output))

    version, _ = ModelVersion.objects.promote(ModelArtifactFactory(), run)

    assert version.layout == "lora_adapter"
    assert version.provenance_json["source_dir"] == str(output / "final_model")
