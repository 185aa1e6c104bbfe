"""Benchmark a real Tunix LoRA SFT run of the tiny demo model: bare, and through the product.

    .venv/bin/python bench/tunix.py [--rounds 3] [--steps 40] [--workdir DIR]

In a fresh SQLite database and media folder (nothing of the developer's is touched), with the
tiny Qwen3 base model and dataset that `load_demo` writes, it measures per round:

- **bare**: the same training in a bare Python process (`runs.tunix.training.train_lora_sft`
  called directly: import JAX and Tunix, load, train, write checkpoints and the adapter), timed
  as a whole process;
- **product**: `POST /api/runs/launch` to the run recorded `completed`, with a real `db_worker`
  already polling (its child process, the live metrics, the log, the database writes);

and prints the time to the first step (mostly XLA compilation), the steady-state step time, the
child's peak RSS, and the product's overhead as a ratio to bare in the same run
(goal: product <= 1.1 x bare + 2 s).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/ is the script's own directory. (This file's name shadows the `tunix` package there:
# nothing in this process imports Tunix; the training runs in child processes.)
from download import BASE_DIR, manage

BARE = """
import json, sys, time
from pathlib import Path
from runs.trainers.tunix_lora_sft import validate
from runs.tunix.training import train_lora_sft
config, output = validate(json.loads(sys.argv[1])), Path(sys.argv[2])
print(json.dumps(train_lora_sft(config, output, lambda event: None)))
"""


def environment(workdir: Path) -> dict:
    return {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "MEDIA_ROOT": str(workdir / "media"),
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "JAX_PLATFORMS": "cpu",
    }


def bare_round(env: dict, config: dict, output: Path) -> tuple[float, dict, float]:
    """Train in a bare process; return (seconds, its metrics, its peak RSS in MiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", BARE, json.dumps(config), str(output)],
        cwd=BASE_DIR,
        env={**env, "PYTHONPATH": str(BASE_DIR)},
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    metrics = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, metrics, max(peak, before) / 1024


def product_round(client, config: dict) -> tuple[float, dict]:
    """Launch over the API and wait for the worker to complete the run; return (seconds, run)."""
    from runs.models import TunixRun

    start = time.perf_counter()
    response = client.post(
        "/api/runs/launch",
        {"name": "bench", "trainer": "runs.trainers.tunix_lora_sft", "config": config},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content[:300]
    run_id = response.json()["id"]
    while True:
        run = TunixRun.objects.get(pk=run_id)
        if run.is_finished:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    assert run.status == "completed", run.error
    return seconds, run.metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tunix-bench-"))
    env = environment(workdir)
    manage(env, "migrate", "--noinput")
    manage(env, "load_demo")
    os.environ.update(env)
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from runs.demo import tunix_demo_inputs

    base, dataset = tunix_demo_inputs(settings.TRAINING_INPUT_ROOTS[0])
    config = {"base_model": str(base), "dataset": str(dataset), "steps": args.steps}
    user = User.objects.create_superuser("bench", password="unused-bench-password")
    client = Client()
    client.force_login(user)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.1"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(3)  # let the worker start: a deployment's worker is already running
    bare, product, first, steady, peaks = [], [], [], [], []
    try:
        for round_number in range(1, args.rounds + 1):
            seconds, metrics, peak = bare_round(env, config, workdir / f"bare-{round_number}")
            bare.append(seconds)
            peaks.append(peak)
            first.append(metrics["first_step_seconds"])
            steady.append(metrics["step_seconds"])
            seconds, run_metrics = product_round(client, config)
            product.append(seconds)
            first.append(run_metrics["first_step_seconds"])
            steady.append(run_metrics["step_seconds"])
            print(
                f"round {round_number}: bare {bare[-1]:.2f} s, product {product[-1]:.2f} s "
                f"(first step {metrics['first_step_seconds']:.2f} s / "
                f"{run_metrics['first_step_seconds']:.2f} s)",
                flush=True,
            )
    finally:
        os.killpg(worker.pid, 15)
        worker.wait()
    b, p = statistics.median(bare), statistics.median(product)
    print(f"\ntiny Qwen3 LoRA SFT, {args.steps} steps, batch 8, sequence 64, {args.rounds} rounds")
    print(f"bare process     median {b:.2f} s  (all: {', '.join(f'{x:.2f}' for x in bare)})")
    print(f"through the API  median {p:.2f} s  (all: {', '.join(f'{x:.2f}' for x in product)})")
    print(f"time to first step (compilation) median {statistics.median(first):.2f} s")
    print(f"steady-state step median {statistics.median(steady) * 1000:.1f} ms")
    print(f"peak RSS of the training process {max(peaks):.0f} MiB")
    ratio, allowed = p / b, 1.1 * b + 2.0
    verdict = "met" if p <= allowed else "MISSED"
    print(f"product / bare = {ratio:.2f}x; goal: product <= 1.1 x bare + 2 s = {allowed:.2f} s")
    print(f"goal {verdict}")


if __name__ == "__main__":
    main()
