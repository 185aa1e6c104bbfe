import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from safetensors.numpy import load_file

from runs.models import TunixRun

pytestmark = pytest.mark.django_db


def call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_import_run_registers_the_directory_and_prints_the_id(tmp_path, runs_root):
    (tmp_path / "metrics.json").write_text(json.dumps({"loss": 0.3}))
    (tmp_path / "config.json").write_text(json.dumps({"rank": 8}))
    outputs = runs_root / "outputs"
    outputs.mkdir()

    printed = call(
        "import_run",
        str(outputs),
        "--name",
        "external-sft",
        "--metrics",
        str(tmp_path / "metrics.json"),
        "--config",
        str(tmp_path / "config.json"),
    )

    run = TunixRun.objects.get(pk=printed.strip())
    assert (run.name, run.status, run.metrics, run.config) == (
        "external-sft",
        "completed",
        {"loss": 0.3},
        {"rank": 8},
    )
    assert run.output_dir == str(outputs)


def test_import_run_refuses_a_missing_directory_in_one_line(runs_root):
    with pytest.raises(CommandError) as excinfo:
        call("import_run", str(runs_root / "gone"))

    assert "does not exist" in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
    assert TunixRun.objects.count() == 0


def test_import_run_refuses_metrics_that_are_not_json(tmp_path, runs_root):
    (tmp_path / "metrics.json").write_text("{loss: 0.3")

    with pytest.raises(CommandError) as excinfo:
        call("import_run", str(runs_root), "--metrics", str(tmp_path / "metrics.json"))

    assert "is not valid JSON" in str(excinfo.value)


def test_import_run_refuses_metrics_that_are_a_list(tmp_path, runs_root):
    (tmp_path / "metrics.json").write_text("[0.3]")

    with pytest.raises(CommandError) as excinfo:
        call("import_run", str(runs_root), "--metrics", str(tmp_path / "metrics.json"))

    assert "must hold a JSON object" in str(excinfo.value)


def test_import_run_with_a_status_records_it(runs_root):
    printed = call("import_run", str(runs_root), "--status", "failed")

    assert TunixRun.objects.get(pk=printed.strip()).status == "failed"


def test_import_run_refuses_a_directory_outside_the_run_roots(tmp_path):
    with pytest.raises(CommandError) as excinfo:
        call("import_run", str(tmp_path))

    assert "outside the allowed run roots" in str(excinfo.value)
    assert TunixRun.objects.count() == 0


def test_import_run_refuses_metrics_holding_nan(tmp_path, runs_root):
    (tmp_path / "metrics.json").write_text('{"loss": NaN}')

    with pytest.raises(CommandError) as excinfo:
        call("import_run", str(runs_root), "--metrics", str(tmp_path / "metrics.json"))

    assert "Holds nan at loss" in str(excinfo.value)


def test_load_demo_creates_both_layouts_and_a_failed_run():
    call("load_demo")

    runs = list(TunixRun.objects.all())
    layouts = {tuple(sorted(p.name for p in Path(r.output_dir).iterdir())) for r in runs}
    assert ("adapter_config.json", "adapter_model.safetensors", "training_args.json") in layouts
    assert ("config.json", "model.safetensors", "training_args.json") in layouts
    assert sorted(r.status for r in runs).count("failed") == 1


def test_load_demo_writes_real_safetensors_and_peft_config():
    call("load_demo")
    run = TunixRun.objects.filter(output_dir__contains="lora").first()
    directory = Path(run.output_dir)

    weights = load_file(str(directory / "adapter_model.safetensors"))
    adapter_config = json.loads((directory / "adapter_config.json").read_text())

    assert adapter_config["peft_type"] == "LORA"
    rank = adapter_config["r"]
    assert all(w.shape[0] == rank for name, w in weights.items() if "lora_A" in name)


def test_load_demo_twice_creates_nothing_new():
    call("load_demo")
    first = sorted(TunixRun.objects.values_list("id", flat=True))

    printed = call("load_demo")

    assert sorted(TunixRun.objects.values_list("id", flat=True)) == first
    assert "0 created" in printed


def test_load_demo_writes_the_tiny_tunix_base_model_and_dataset(settings):
    printed = call("load_demo")

    base = settings.TRAINING_INPUT_ROOTS[0] / "demo" / "tiny-qwen3"
    dataset = settings.TRAINING_INPUT_ROOTS[0] / "demo" / "tiny-sft.jsonl"
    assert json.loads((base / "config.json").read_text())["model_type"] == "qwen3"
    assert load_file(str(base / "model.safetensors"))["lm_head.weight"].shape == (264, 64)
    assert json.loads(dataset.read_text().splitlines()[0]).keys() == {"prompt", "completion"}
    assert str(base) in printed


def test_the_synthetic_demo_runs_say_they_are_not_trained():
    call("load_demo")

    for run in TunixRun.objects.all():
        assert run.config["trainer"] == "synthetic"
        assert "not trained" in run.config["note"]


def write_tensorboard_events(directory: Path, scalars: dict[str, list[tuple[int, float]]]) -> None:
    """Write TensorBoard scalars as Tunix's metrax backend does (through tensorboardX)."""
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(logdir=str(directory))
    for tag, points in scalars.items():
        for step, value in points:
            writer.add_scalar(tag, value, step)
    writer.close()


def test_import_run_fills_metrics_and_the_loss_curve_from_tensorboard_events(runs_root):
    output = runs_root / "tunix-elsewhere"
    write_tensorboard_events(
        output / "tensorboard",
        {
            "train/loss": [(1, 6.0), (2, 5.0), (3, 4.5)],
            "train/perplexity": [(3, 90.0)],
            "eval/loss": [(0, 6.1), (3, 4.4)],
            "jax/core/compile/backend_compile_duration": [(0, 1.5)],
        },
    )

    run = TunixRun.objects.get(pk=call("import_run", str(output)).strip())

    assert run.metrics["loss"] == 4.5 and run.metrics["eval_loss"] == pytest.approx(4.4)
    assert run.metrics["perplexity"] == 90.0 and run.metrics["steps"] == 3
    assert run.loss_curve() == [6.0, 5.0, 4.5]
    assert not any("jax" in key for key in run.metrics)


def test_import_run_of_a_real_tunix_output_reads_its_events(runs_root, tunix_trained):
    import shutil

    output = runs_root / "real"
    shutil.copytree(tunix_trained["output"], output)
    (output / "metrics.json").unlink()  # a run trained elsewhere has only Tunix's own files

    run = TunixRun.objects.get(pk=call("import_run", str(output)).strip())

    assert run.metrics["steps"] == tunix_trained["steps"]
    assert run.metrics["eval_loss"] == pytest.approx(tunix_trained["final"]["eval_loss"])
    assert len(run.loss_curve()) == tunix_trained["steps"]


def test_metrics_given_to_import_run_win_over_tensorboard_events(tmp_path, runs_root):
    output = runs_root / "both"
    write_tensorboard_events(output / "tensorboard", {"train/loss": [(1, 6.0)]})
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"loss": 0.5}')

    run_id = call("import_run", str(output), "--metrics", str(metrics)).strip()

    assert TunixRun.objects.get(pk=run_id).metrics == {"loss": 0.5}
