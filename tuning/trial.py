"""What runs inside a Ray Tune trial process: no Django models here, only the training path.

Ray imports this module in its own worker processes (on this machine or a cluster), where no
Django app registry is set up.
"""

import math
import uuid
from pathlib import Path

from runs.execution import ERROR_NAME, run_training

TRIAL_RUN_NAMESPACE = uuid.UUID("0b6c3f8e-5d7a-4c1e-9f2b-3a4d5e6f7a8b")


def trial_run_id(job_id: int, ray_trial_id: str) -> uuid.UUID:
    """Return the id of a trial's run, known to the trial process and the driver alike."""
    return uuid.uuid5(TRIAL_RUN_NAMESPACE, f"{job_id}/{ray_trial_id}")


def trial_worker(trial_id: str, result: dict) -> str:
    """Return where a trial ran, from its result: `ray:<trial>@<host>/<pid> node=<Ray node id>`."""
    where = f"ray:{trial_id}@{result.get('hostname', '?')}/{result.get('pid', '?')}"
    return f"{where} node={result['node_id']}" if result.get("node_id") else where


def numeric_metrics(result: dict) -> dict:
    """Keep the finite numbers a trainer reported; drop Ray's own bookkeeping."""
    ray_keys = {
        "time_this_iter_s",
        "time_total_s",
        "timestamp",
        "training_iteration",
        "pid",
        "time_since_restore",
        "iterations_since_restore",
        "done",
    }
    return {
        k: v
        for k, v in result.items()
        if k not in ray_keys
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
    }


def train_trial(params, *, job_id, trainer, base_config, runs_root, metric, allowed_trainers):
    """A Ray Tune trainable: run the trainer for one trial and report its final metrics."""
    import ray
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    output_dir = Path(runs_root) / str(trial_run_id(job_id, trial_id))
    final = run_training(
        trainer, {**base_config, **params}, output_dir, allowed_trainers=allowed_trainers
    )
    reported = numeric_metrics(final)
    if metric not in reported:
        problem = f"The trainer reported no numeric {metric!r}; it reported {sorted(final)}."
        (output_dir / ERROR_NAME).write_text(problem, encoding="utf-8")
        raise ValueError(problem)
    # Tune adds the process's hostname and pid; the node id tells which cluster node that was.
    tune.report({**reported, "node_id": ray.get_runtime_context().get_node_id()})
