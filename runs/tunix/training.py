"""LoRA SFT with Tunix's `PeftTrainer`: runs in the trainer's child process (imports JAX).

`train_lora_sft` loads the base checkpoint with Tunix's loader, applies Qwix LoRA, trains, and
writes into the output directory: Orbax checkpoints (`checkpoints/<step>/`), TensorBoard events
(`tensorboard/`), and `final_model/`, a PEFT LoRA adapter, optionally `merged_model/` beside it.
Every train and eval metric Tunix logs is handed to `emit` as it happens.
"""

import contextlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from runs.tunix import (
    CHECKPOINTS_DIRNAME,
    FINAL_MODEL_DIRNAME,
    MERGED_MODEL_DIRNAME,
    TENSORBOARD_DIRNAME,
)
from runs.tunix.adapters import apply_lora, save_peft_adapter
from runs.tunix.data import load_sft_data, tokenizer_for
from runs.tunix.families import (
    GEMMA3,
    BaseModelError,
    family_for,
    load_base_model,
    read_model_config,
)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
# Tunix's metric names are "<prefix>/<mode>/<name>"; anything else is JAX's own bookkeeping.
TUNIX_MODES = ("train", "eval")


class MetricsStream:
    """A metrax logging backend that hands Tunix's train and eval scalars to `emit`."""

    def __init__(self, emit: Callable[[dict], None]):
        self.emit = emit
        self.train_times: list[float] = []

    def log_scalar(self, event: str, value, **kwargs) -> None:
        parts = event.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in TUNIX_MODES:
            return  # /jax/... compile and Orbax events arrive through the same listener
        mode, name = parts
        if mode == "train" and name == "loss":
            self.train_times.append(time.monotonic())
        self.emit(
            {
                "event": "metric",
                "mode": mode,
                "name": name,
                "value": float(np.asarray(value)),
                "step": int(kwargs.get("step") or 0),
            }
        )

    def close(self) -> None:
        """Nothing to flush: every scalar was emitted as it came."""


def masked_nll(model, input_tokens, input_mask, positions, attention_mask):
    """Mean next-token negative log-likelihood over the tokens `input_mask` marks."""
    import jax
    import jax.numpy as jnp

    logits, _ = model(input_tokens, positions, None, attention_mask)
    logits = logits[:, :-1, :]
    targets = jax.nn.one_hot(input_tokens[:, 1:], logits.shape[-1])
    mask = input_mask[:, 1:].astype(logits.dtype)
    log_probs = jnp.sum(jax.nn.log_softmax(logits) * targets, axis=-1)
    return -jnp.sum(log_probs * mask) / (jnp.sum(mask) + 1e-8)


def model_inputs(pad_id: int):
    """Return Tunix's `gen_model_input_fn`: attention covers every non-pad token."""
    from tunix.sft import utils as sft_utils

    def gen(batch):
        not_pad = batch.input_tokens != pad_id
        return {
            "input_tokens": batch.input_tokens,
            "input_mask": batch.input_mask,
            "positions": sft_utils.build_positions_from_mask(not_pad),
            "attention_mask": sft_utils.make_causal_attn_mask(not_pad),
        }

    return gen


def train_lora_sft(config: dict, output_dir: Path, emit: Callable[[dict], None]) -> dict:
    """Train a LoRA adapter with Tunix on the config's base model and dataset; return metrics."""
    started = time.monotonic()
    base = Path(config["base_model"])
    family = family_for(base, config["model_family"])
    hf_config = read_model_config(base)
    tokenizer = tokenizer_for(base, hf_config)
    vocab = hf_config.get("vocab_size", 0)
    if tokenizer.vocab_size > vocab:
        raise BaseModelError(
            f"The {tokenizer.name} tokenizer has {tokenizer.vocab_size} ids but the model's "
            f"vocabulary has {vocab}; give the base checkpoint its own tokenizer.json."
        )
    data = load_sft_data(
        Path(config["dataset"]), tokenizer, sequence_length=config["sequence_length"]
    )
    emit_log(
        emit,
        f"dataset: {len(data.train)} training and {len(data.eval)} evaluation examples "
        f"({tokenizer.name} tokenizer, {data.dropped} dropped as too long)",
    )
    checkpoints = output_dir / CHECKPOINTS_DIRNAME

    import jax
    import optax
    import orbax.checkpoint as ocp
    from metrax import logging as metrax_logging
    from tunix.sft import metrics_logger, peft_trainer

    model = apply_lora(
        load_base_model(base, family),
        family,
        rank=config["rank"],
        alpha=config["alpha"],
        target_modules=config["target_modules"],
        seed=config["seed"],
    )
    emit_log(
        emit,
        f"loaded {family.name} base {base} with LoRA rank {config['rank']} on "
        f"{', '.join(config['target_modules'])} in {time.monotonic() - started:.1f}s "
        f"(JAX {jax.__version__} on {jax.devices()[0].platform})",
    )
    warmup = config["warmup_steps"]
    schedule = (
        optax.join_schedules(
            [
                optax.linear_schedule(0.0, config["learning_rate"], warmup),
                optax.constant_schedule(config["learning_rate"]),
            ],
            [warmup],
        )
        if warmup
        else config["learning_rate"]
    )
    optimizer = optax.inject_hyperparams(optax.adamw)(learning_rate=schedule, weight_decay=0.0)
    stream = MetricsStream(emit)
    tensorboard_dir = str(output_dir / TENSORBOARD_DIRNAME)
    tensorboard = metrax_logging.TensorboardBackend(log_dir=tensorboard_dir, flush_every_n_steps=1)
    backends = [lambda: stream, lambda: tensorboard]
    training_config = peft_trainer.TrainingConfig(
        eval_every_n_steps=config["eval_interval"],
        max_steps=config["steps"],
        checkpoint_root_directory=None if config["dry_run"] else str(checkpoints),
        checkpointing_options=ocp.CheckpointManagerOptions(
            save_interval_steps=config["checkpoint_interval"], max_to_keep=3
        ),
        metrics_logging_options=metrics_logger.MetricsLoggerOptions(
            log_dir=tensorboard_dir, backend_kwargs={"custom_backend": backends}
        ),
        pbar_description=None,
    )
    gen = model_inputs(tokenizer.pad_id)
    trainer = (
        peft_trainer.PeftTrainer(model, optimizer, training_config)
        .with_gen_model_input_fn(gen)
        .with_loss_fn(masked_nll)
    )
    as_input = peft_trainer.TrainingInput
    train_batches = (
        as_input(**batch)
        for batch in data.train_batches(
            steps=config["steps"], batch_size=config["batch_size"], seed=config["seed"]
        )
    )
    eval_batches = [as_input(**b) for b in data.eval_batches(batch_size=config["batch_size"])]
    train_started = time.monotonic()
    try:
        trainer.train(train_batches, eval_batches)
    finally:
        # Closed backends stay registered with jax.monitoring (jax 0.10) unless removed.
        for backend in (stream, tensorboard):
            with contextlib.suppress(AttributeError, ValueError):
                jax.monitoring.unregister_scalar_listener(backend.log_scalar)
    train_seconds = time.monotonic() - train_started
    if config["steps"] % config["eval_interval"]:
        final_eval(trainer.model, eval_batches, gen, emit, step=config["steps"])
    timings = step_timings(stream.train_times, train_started)
    emit_log(emit, f"trained {config['steps']} steps in {train_seconds:.1f}s")
    if not config["dry_run"]:
        export(trainer.model, family, base, output_dir, config, emit)
    return {"train_seconds": round(train_seconds, 3), **timings}


def final_eval(model, eval_batches, gen, emit, *, step: int) -> None:
    """Evaluate once more after the last step, when it did not fall on the eval interval."""
    from flax import nnx

    loss_of = nnx.jit(lambda m, inputs: masked_nll(m, **inputs))
    losses = [float(loss_of(model, gen(batch))) for batch in eval_batches]
    loss = float(np.mean(losses))
    for name, value in (("loss", loss), ("perplexity", float(np.exp(loss)))):
        emit({"event": "metric", "mode": "eval", "name": name, "value": value, "step": step})


def step_timings(train_times: list[float], started: float) -> dict:
    """Return the time to the first step (compilation) and the steady-state step time."""
    if not train_times:
        return {}
    gaps = np.diff(train_times)
    steady = float(np.median(gaps)) if len(gaps) else 0.0
    return {
        "first_step_seconds": round(train_times[0] - started, 3),
        "step_seconds": round(steady, 4),
    }


def export(model, family, base: Path, output_dir: Path, config: dict, emit) -> None:
    """Write `final_model/` (a PEFT adapter), and `merged_model/` when asked and possible."""
    final = output_dir / FINAL_MODEL_DIRNAME
    save_peft_adapter(
        model,
        family,
        final,
        base_model=config["base_model_name"] or str(base),
        rank=config["rank"],
        alpha=config["alpha"],
        target_modules=config["target_modules"],
    )
    for name in TOKENIZER_FILES:
        if (base / name).is_file():
            shutil.copyfile(base / name, final / name)
    emit_log(emit, f"wrote the PEFT adapter to {final}")
    if not config["export_merged"]:
        return
    if not (base / "model.safetensors").is_file():
        emit_log(emit, "merged model skipped: Tunix's exporter needs a single model.safetensors")
        return
    if family is GEMMA3:
        from tunix.models.gemma3.params import save_lora_merged_model_as_safetensors
    else:
        from tunix.models.qwen3.params import save_lora_merged_model_as_safetensors
    merged = output_dir / MERGED_MODEL_DIRNAME
    save_lora_merged_model_as_safetensors(
        str(base), str(merged), model, rank=config["rank"], alpha=config["alpha"]
    )
    emit_log(emit, f"wrote the merged model to {merged}")


def emit_log(emit, line: str) -> None:
    """Hand one line to the run's log."""
    emit({"event": "log", "line": line})
