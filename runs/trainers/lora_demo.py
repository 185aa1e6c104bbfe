"""A small but real LoRA fit in numpy, for demos and tests: seconds on a CPU.

A frozen base weight W0 is adapted towards a target W0 + ΔW, where ΔW has rank 6, by a low-rank
update (alpha / rank) · B · A fitted with gradient descent on a regression task. Too small a rank
cannot express ΔW; too large a learning rate diverges; too few steps underfit: the metrics respond
to every hyperparameter, so a search over them is meaningful.

Writes a PEFT adapter (`adapter_config.json` + `adapter_model.safetensors`) and `metrics.json`.
"""

import json
import math
from pathlib import Path

import numpy as np

from runs.checkpoints import lora_adapter_config, write_lora_adapter
from runs.trainers import TrainerConfigError, positive_number_problem, whole_number_problem

D_IN, D_OUT, TRUE_RANK = 48, 32, 6
TRAIN_ROWS, EVAL_ROWS = 512, 256
DEFAULTS = {"learning_rate": 0.01, "rank": 8, "alpha": 16.0, "steps": 300, "seed": 0}
LIMITS = {"rank": (1, 64), "steps": (1, 20_000)}
TARGET_MODULE = "base_model.model.model.layers.0.self_attn.q_proj"


def validate(config: dict) -> dict:
    """Return the config with defaults filled in; raise TrainerConfigError per bad field."""
    merged = {**DEFAULTS, **{k: v for k, v in (config or {}).items() if k in DEFAULTS}}
    errors = {}
    for field in ("learning_rate", "alpha"):
        if problem := positive_number_problem(merged[field]):
            errors[field] = problem
    for field in ("rank", "steps", "seed"):
        if problem := whole_number_problem(merged[field], *LIMITS.get(field, (None, None))):
            errors[field] = problem
    if "dry_run" in (config or {}) and not isinstance(config["dry_run"], bool):
        errors["dry_run"] = "must be true or false"
    if errors:
        raise TrainerConfigError(errors)
    return {**(config or {}), **merged}


def synthetic_task(seed: int = 1234):
    """Return (W0, target ΔW, train X, train Y, eval X, eval Y): the same task for every run."""
    rng = np.random.default_rng(seed)
    w0 = rng.normal(0, 1 / math.sqrt(D_IN), (D_OUT, D_IN))
    delta = rng.normal(0, 0.5, (D_OUT, TRUE_RANK)) @ rng.normal(0, 0.5, (TRUE_RANK, D_IN))
    delta /= np.linalg.norm(delta) / 4
    x = rng.normal(size=(TRAIN_ROWS + EVAL_ROWS, D_IN))
    y = x @ (w0 + delta).T + rng.normal(0, 0.05, (TRAIN_ROWS + EVAL_ROWS, D_OUT))
    return w0, delta, x[:TRAIN_ROWS], y[:TRAIN_ROWS], x[TRAIN_ROWS:], y[TRAIN_ROWS:]


def train(config: dict, output_dir: Path, session) -> dict:
    """Fit the adapter, reporting loss as it goes; write the adapter and metrics.json."""
    config = validate(config)
    lr, rank, alpha = float(config["learning_rate"]), config["rank"], float(config["alpha"])
    steps, seed = config["steps"], config["seed"]
    w0, _, x, y, x_eval, y_eval = synthetic_task()
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1 / math.sqrt(D_IN), (rank, D_IN))
    b = np.zeros((D_OUT, rank))
    scale = alpha / rank
    losses: list[float] = []
    every = max(1, steps // 20)
    session.log(
        f"lora_demo: rank={rank} alpha={alpha} learning_rate={lr} steps={steps} seed={seed}"
    )

    def loss_of(xs, ys) -> float:
        return float(np.mean((xs @ (w0 + scale * b @ a).T - ys) ** 2))

    with np.errstate(all="ignore"):
        for step in range(1, steps + 1):
            error = x @ (w0 + scale * b @ a).T - y
            grad = 2.0 / len(x) * error.T @ x / D_OUT
            grad_b, grad_a = scale * grad @ a.T, scale * b.T @ grad
            b -= lr * grad_b
            a -= lr * grad_a
            loss = float(np.mean(error**2))
            losses.append(loss)
            if not math.isfinite(loss) or loss > 1e6:
                session.log(f"step {step}: loss diverged ({loss}); stopping")
                raise FloatingPointError(
                    f"Training diverged at step {step} (loss {loss}); lower the learning rate."
                )
            if step % every == 0 or step == steps:
                session.log(f"step {step}/{steps} loss {loss:.5f}")
                session.report({"step": step, "loss": loss})
            if session.should_stop():
                session.log(f"step {step}: stopped on request")
                raise InterruptedError("Stopped on request.")
        eval_loss = loss_of(x_eval, y_eval)
    metrics = {"loss": losses[-1], "eval_loss": eval_loss, "steps": steps}
    session.log(f"done: loss {losses[-1]:.5f} eval_loss {eval_loss:.5f}")
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(
        json.dumps({**metrics, "loss_per_step": losses}, indent=2) + "\n", encoding="utf-8"
    )
    if config.get("dry_run"):
        session.log("dry run: no weights written")
        return {**metrics, "dry_run": True}
    write_lora_adapter(
        output_dir,
        config=lora_adapter_config(
            base_model="tunix-rt/lora-demo-base", rank=rank, alpha=alpha, target_modules=["q_proj"]
        ),
        weights={
            f"{TARGET_MODULE}.lora_A.weight": a.astype(np.float32),
            f"{TARGET_MODULE}.lora_B.weight": b.astype(np.float32),
        },
    )
    return metrics
