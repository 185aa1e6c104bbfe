"""The Tunix LoRA SFT trainer: a real Tunix training of the tiny model, its outputs, refusals."""

import json
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from runs.execution import run_training
from runs.trainers import TrainerConfigError
from runs.trainers import tunix_lora_sft as trainer
from runs.trainers.tunix_lora_sft import TunixTrainingError

pytestmark = pytest.mark.slow
TRAINER = "runs.trainers.tunix_lora_sft"


def config_for(tunix_inputs, **overrides) -> dict:
    base, dataset = tunix_inputs
    return {"base_model": str(base), "dataset": str(dataset), **overrides}


def train(tunix_inputs, output: Path, **kwargs) -> dict:
    config = kwargs.pop("config", None) or config_for(tunix_inputs, steps=400)
    return run_training(TRAINER, config, output, allowed_trainers=[TRAINER], **kwargs)


def test_training_lowers_the_train_and_eval_loss(tunix_trained):
    steps = tunix_trained["steps"]
    metrics = json.loads((tunix_trained["output"] / "metrics.json").read_text())

    losses, evals = metrics["loss_per_step"], metrics["eval_loss_per_step"]
    assert len(losses) == steps
    assert losses[-1] < 0.75 * losses[0]
    assert evals[0][0] == 0 and evals[-1][0] == steps
    assert evals[-1][1] < 0.75 * evals[0][1]
    assert tunix_trained["final"]["eval_loss"] == pytest.approx(evals[-1][1])
    assert tunix_trained["final"]["perplexity"] == pytest.approx(np.exp(losses[-1]), rel=1e-4)


def test_every_step_is_reported_as_it_happens(tunix_trained):
    reported = [metrics["step"] for _, metrics in tunix_trained["reports"] if "step" in metrics]
    times = [at for at, metrics in tunix_trained["reports"] if "step" in metrics]

    assert sorted(set(reported)) == list(range(1, tunix_trained["steps"] + 1))
    assert times == sorted(times) and times[-1] < tunix_trained["seconds"]
    assert any("eval_loss" in metrics for _, metrics in tunix_trained["reports"])


def test_the_log_tells_the_story_of_the_run(tunix_trained):
    log = (tunix_trained["output"] / "run.log").read_text()
    steps = tunix_trained["steps"]

    assert "loaded qwen3 base" in log
    assert f"step {steps}/{steps} loss" in log
    assert "wrote the PEFT adapter" in log


def test_orbax_steps_are_complete_up_to_the_last_step(tunix_trained):
    checkpoints = tunix_trained["output"] / "checkpoints"
    steps = sorted(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())

    assert steps[-1] == tunix_trained["steps"]
    for step in steps:
        assert (checkpoints / str(step) / "commit_success.txt").is_file()
        assert (checkpoints / str(step) / "model_params").is_dir()


def test_final_model_is_a_peft_adapter_with_peft_names_and_shapes(tunix_trained):
    final = tunix_trained["output"] / "final_model"
    config = json.loads((final / "adapter_config.json").read_text())
    weights = load_file(str(final / "adapter_model.safetensors"))

    assert config["peft_type"] == "LORA" and config["r"] == 4 and config["lora_alpha"] == 8.0
    assert config["base_model_name_or_path"] == str(tunix_trained["base"])
    assert set(config["target_modules"]) == set(trainer.DEFAULTS["target_modules"])
    assert len(weights) == 2 * 7 * 2
    prefix = "base_model.model.model.layers.1"
    expected = {
        "self_attn.q_proj": ((4, 64), (64, 4)),
        "self_attn.k_proj": ((4, 64), (32, 4)),
        "self_attn.o_proj": ((4, 64), (64, 4)),
        "mlp.gate_proj": ((4, 64), (128, 4)),
        "mlp.down_proj": ((4, 128), (64, 4)),
    }
    for module, (a_shape, b_shape) in expected.items():
        assert weights[f"{prefix}.{module}.lora_A.weight"].shape == a_shape
        assert weights[f"{prefix}.{module}.lora_B.weight"].shape == b_shape
    assert any(np.abs(w).max() > 0 for n, w in weights.items() if "lora_B" in n)


def test_the_adapter_applied_to_the_base_is_what_tunix_merged_exporter_writes(
    tunix_trained, tmp_path
):
    from tunix.models.qwen3.params import save_lora_merged_model_as_safetensors

    from runs.tunix.adapters import load_adapter
    from runs.tunix.families import QWEN3

    base, final = tunix_trained["base"], tunix_trained["output"] / "final_model"
    config = json.loads((final / "adapter_config.json").read_text())
    model = load_adapter(base, final, QWEN3)
    save_lora_merged_model_as_safetensors(
        str(base), str(tmp_path / "merged"), model, rank=config["r"], alpha=config["lora_alpha"]
    )

    merged = load_file(str(tmp_path / "merged" / "model.safetensors"))
    base_weights = load_file(str(base / "model.safetensors"))
    adapter = load_file(str(final / "adapter_model.safetensors"))
    scale = config["lora_alpha"] / config["r"]
    for name, lora_a in adapter.items():
        if ".lora_A." in name:
            module = name.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
            lora_b = adapter[name.replace(".lora_A.", ".lora_B.")]
            expected = base_weights[f"{module}.weight"] + lora_b @ lora_a * scale
            np.testing.assert_allclose(merged[f"{module}.weight"], expected, atol=1e-6)


def test_peft_and_transformers_load_the_adapter_with_tunix_logits(tunix_trained):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    peft = pytest.importorskip("peft", reason="peft is not installed")
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    from runs.tests.tunix_logits import adapter_logits, probe_tokens

    base, final = tunix_trained["base"], tunix_trained["output"] / "final_model"
    model = transformers.AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    peft_model = peft.PeftModel.from_pretrained(model, str(final)).eval()
    with torch.no_grad():
        hf = peft_model(torch.tensor(probe_tokens(), dtype=torch.long)).logits.numpy()

    np.testing.assert_allclose(hf, adapter_logits(base, final), atol=1e-4)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"learning_rat": 0.1}, "learning_rat"),
        ({"rank": 0}, "rank"),
        ({"steps": 2.5}, "steps"),
        ({"target_modules": ["q_proj", "lm_head"]}, "target_modules"),
        ({"model_family": "llama"}, "model_family"),
        ({"base_model": "relative/path"}, "base_model"),
        ({"base_model": "/nonexistent/model"}, "base_model"),
        ({"dataset": "/nonexistent/data.jsonl"}, "dataset"),
        ({"dry_run": "yes"}, "dry_run"),
    ],
)
def test_a_bad_config_is_refused_per_field(tunix_inputs, override, field):
    with pytest.raises(TrainerConfigError) as refused:
        trainer.validate(config_for(tunix_inputs, **override))

    assert field in refused.value.errors


def test_a_dataset_with_a_bad_first_record_is_refused_with_its_line(tunix_inputs, tmp_path):
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text('\n{"question": "no text here"}\n')

    with pytest.raises(TrainerConfigError) as refused:
        trainer.validate(config_for(tunix_inputs, dataset=str(dataset)))

    assert "line 2" in refused.value.errors["dataset"]


def test_a_base_checkpoint_of_an_unknown_family_is_refused(tunix_inputs, tmp_path):
    base = tmp_path / "llama"
    base.mkdir()
    (base / "config.json").write_text('{"model_type": "llama"}')
    (base / "model.safetensors").write_bytes(b"")

    with pytest.raises(TrainerConfigError) as refused:
        trainer.validate(config_for(tunix_inputs, base_model=str(base)))

    assert "model_type 'llama'" in refused.value.errors["base_model"]


def test_leftover_orbax_steps_are_refused_rather_than_silently_resumed(tunix_inputs, tmp_path):
    (tmp_path / "out" / "checkpoints" / "20").mkdir(parents=True)

    with pytest.raises(TunixTrainingError, match="would resume"):
        train(tunix_inputs, tmp_path / "out")


def test_a_refusal_inside_the_child_is_one_clear_message(tunix_inputs, tmp_path):
    dataset = tmp_path / "late-error.jsonl"
    dataset.write_text('{"text": "fine"}\n{"text": "fine too"}\nnot json\n')

    with pytest.raises(TunixTrainingError, match="line 3 is not JSON"):
        train(tunix_inputs, tmp_path / "out", config=config_for(tunix_inputs, dataset=str(dataset)))


def test_a_nan_loss_fails_the_run_naming_the_step(tunix_inputs, tmp_path):
    config = config_for(tunix_inputs, learning_rate=1e30, steps=50)

    with pytest.raises(FloatingPointError, match=r"Loss became nan at step \d+"):
        train(tunix_inputs, tmp_path / "out", config=config)


def child_pid(output: Path, timeout: float = 60) -> int:
    """Wait for the trainer's child process to start; return its pid from run.log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = output / "run.log"
        if log.is_file() and "trainer process started (pid " in log.read_text():
            return int(log.read_text().split("trainer process started (pid ")[1].split(";")[0])
        time.sleep(0.05)
    raise AssertionError("the trainer process never started")


def pid_exists(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}").stat()
    except FileNotFoundError:
        return False
    return "zombie" not in Path(f"/proc/{pid}/status").read_text()


def test_a_stop_request_ends_the_child_promptly(tunix_inputs, tmp_path):
    output, stop = tmp_path / "out", threading.Event()
    threading.Thread(target=lambda: (child_pid(output), time.sleep(1), stop.set())).start()

    started = time.monotonic()
    with pytest.raises(InterruptedError):
        train(tunix_inputs, output, should_stop=stop.is_set)

    assert time.monotonic() - started < 60
    assert not pid_exists(child_pid(output))
    assert "stopped on request" in (output / "run.log").read_text()


def test_a_crash_inside_the_child_fails_with_its_log_tail_and_the_parent_lives(
    tunix_inputs, tmp_path
):
    output = tmp_path / "out"

    def crash():
        import os

        pid = child_pid(output)
        time.sleep(1)
        os.kill(pid, signal.SIGSEGV)  # what a crash inside XLA looks like from outside

    threading.Thread(target=crash).start()
    with pytest.raises(TunixTrainingError) as failed:
        train(tunix_inputs, output)

    assert "killed by signal 11" in str(failed.value)
    assert "The end of tunix.log" in str(failed.value)
    assert (output / "error.txt").is_file()


def test_only_evaluation_results_are_recorded_as_eval_metrics(tunix_trained):
    evaluated = {key for key in tunix_trained["final"] if key.startswith("eval_")}

    assert evaluated == {"eval_loss", "eval_perplexity"}
