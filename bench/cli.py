"""Benchmark the registry's commands as whole processes: start-up included, as a user sees them.

    .venv/bin/python bench/cli.py [--size-mib 48] [--rounds 5] [--workdir DIR]

Makes a LoRA-adapter-sized run directory (`adapter_config.json` and one `--size-mib` MiB
`adapter_model.safetensors` of random bytes) and times, in the same run, each `--rounds` times:

- `python -c pass` (the interpreter's own start-up: the floor of any command),
- `cp -r` + `sync` of the run directory (the durable-copy floor for these bytes),
- `manage.py promote_run --help` (the command's start-up alone),
- `manage.py check` (Django's full system checks, which import the whole URL configuration and
  the schema generator: what `promote_run` and `verify_version` no longer run first),
- `manage.py promote_run RUN --model M --create-model` into an empty store (goal: <= 1.0 s),
- `manage.py verify_version --all` with that one version stored.

and prints the medians, every sample, and the promotion's ratio to its goal.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 1.0


def make_adapter(directory: Path, *, size_mib: int) -> None:
    """Write a LoRA-adapter-shaped directory of `size_mib` MiB of random weights."""
    directory.mkdir(parents=True)
    (directory / "adapter_config.json").write_text(
        '{"peft_type": "LORA", "r": 16, "lora_alpha": 32, "target_modules": ["q_proj"]}\n'
    )
    with open(directory / "adapter_model.safetensors", "wb") as out:
        out.write(os.urandom(size_mib * 1024 * 1024))


def timed(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        command,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=BASE_DIR,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tunix-bench-cli-", dir=args.workdir))
    try:
        source = work / "run"
        make_adapter(source, size_mib=args.size_mib)
        subprocess.run(["sync"], check=True)
        env = {
            **os.environ,
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
            "MEDIA_ROOT": str(work / "media"),
            "MODEL_REGISTRY_PATH": str(work / "registry"),
            "RUN_ROOTS": str(work),
            "LOG_LEVEL": "WARNING",
        }
        manage = [sys.executable, "manage.py"]
        subprocess.run(
            [*manage, "migrate", "--noinput"],
            env=env,
            cwd=BASE_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        run_id = (
            subprocess.run(
                [
                    *manage,
                    "shell",
                    "-v0",
                    "-c",
                    "from runs.models import TunixRun; print(TunixRun.objects"
                    f".register_directory({str(source)!r}, name='adapter').pk)",
                ],
                env=env,
                cwd=BASE_DIR,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )

        samples = {"python": [], "copy": [], "help": [], "check": [], "promote": [], "verify": []}
        for round_number in range(1, args.rounds + 1):
            samples["python"].append(timed([sys.executable, "-c", "pass"]))
            samples["copy"].append(
                timed(["cp", "-r", str(source), str(work / "copy")]) + timed(["sync"])
            )
            shutil.rmtree(work / "copy")
            samples["help"].append(timed([*manage, "promote_run", "--help"], env))
            samples["check"].append(timed([*manage, "check"], env))
            # An empty store each round, so every promotion writes and fsyncs every byte.
            shutil.rmtree(work / "registry", ignore_errors=True)
            subprocess.run(["sync"], check=True)
            samples["promote"].append(
                timed(
                    [
                        *manage,
                        "promote_run",
                        run_id,
                        "--model",
                        f"adapter-{round_number}",
                        "--create-model",
                    ],
                    env,
                )
            )
            subprocess.run(["sync"], check=True)
            samples["verify"].append(timed([*manage, "verify_version", "--all"], env))

        labels = {
            "python": "python -c pass",
            "copy": f"cp -r + sync ({args.size_mib} MiB)",
            "help": "promote_run --help",
            "check": "check (all system checks)",
            "promote": f"promote_run ({args.size_mib} MiB)",
            "verify": "verify_version --all",
        }
        print(f"\n{os.cpu_count()} CPUs, {args.rounds} rounds, whole processes; medians")
        for name, label in labels.items():
            values = samples[name]
            print(
                f"  {label:<28} {statistics.median(values):6.2f} s   spread "
                f"{min(values):.2f}-{max(values):.2f}   samples "
                + " ".join(f"{v:.2f}" for v in values)
            )
        promote = statistics.median(samples["promote"])
        print(
            f"\nRATIO promote_run ({args.size_mib} MiB) / goal {GOAL_SECONDS:.1f} s = "
            f"{promote / GOAL_SECONDS:.2f} (goal <= 1.00)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
