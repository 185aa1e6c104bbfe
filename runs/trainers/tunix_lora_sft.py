"""LoRA SFT with Tunix (`tunix.sft.peft_trainer.PeftTrainer`) on a local Hugging Face checkpoint.

The config names a base checkpoint directory (Qwen3 or Gemma3, picked by its `config.json` or
`model_family`) and a JSONL dataset. Training runs in a child process (`runs.tunix.child`), so
JAX never loads into the worker: a cancel ends the process within a second, a crash inside XLA
fails the run with the child's stderr tail and leaves the worker alive, and the memory JAX took
returns to the system when the run ends. Per-step loss, eval loss and perplexity stream into the
run's metrics, `run.log` and `metrics.json` (the run page's loss curve) while it trains.

Writes Orbax checkpoints (`checkpoints/<step>/`), TensorBoard events (`tensorboard/`),
`metrics.json`, the child's own log (`tunix.log`) and `final_model/`, a PEFT LoRA adapter: the
directory the registry promotes.
"""

import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from runs.trainers import TrainerConfigError, positive_number_problem, whole_number_problem
from runs.tunix import CHECKPOINTS_DIRNAME
from runs.tunix.data import first_record_problem
from runs.tunix.families import FAMILIES, HF_TARGET_MODULES, BaseModelError, family_for

DEFAULTS = {
    "model_family": "auto",
    "learning_rate": 3e-3,
    "rank": 4,
    "alpha": 8.0,
    "target_modules": list(HF_TARGET_MODULES),
    "steps": 40,
    "batch_size": 8,
    "sequence_length": 64,
    "eval_interval": 10,
    "checkpoint_interval": 20,
    "warmup_steps": 0,
    "seed": 0,
    "export_merged": False,
    "base_model_name": "",
    "dry_run": False,
}
REQUIRED = ("base_model", "dataset")
# Fields holding paths this trainer reads: the launch checks them against TRAINING_INPUT_ROOTS.
INPUT_PATH_FIELDS = REQUIRED
WHOLE_LIMITS = {
    "rank": (1, 256),
    "steps": (1, 100_000),
    "batch_size": (1, 1024),
    "sequence_length": (8, 8192),
    "eval_interval": (1, 100_000),
    "checkpoint_interval": (1, 100_000),
    "warmup_steps": (0, 100_000),
    "seed": (0, 2**31 - 1),
}
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHILD_LOG_NAME = "tunix.log"
METRICS_NAME = "metrics.json"
STDERR_TAIL_LINES = 30
STOP_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.25
METRICS_WRITE_SECONDS = 0.5
EVAL_METRICS = ("loss", "perplexity")


def existing_steps(checkpoints: Path) -> list[str]:
    """Return the Orbax step directories already under `checkpoints`."""
    if not checkpoints.is_dir():
        return []
    return sorted((p.name for p in checkpoints.iterdir() if p.name.isdigit()), key=int)


class TunixTrainingError(RuntimeError):
    """The Tunix child process refused the job or died; the message says why."""


def validate(config: dict) -> dict:
    """Return the config with defaults filled in; raise TrainerConfigError per bad field."""
    config = dict(config or {})
    errors = {
        key: f"unknown setting; known: {', '.join(sorted([*REQUIRED, *DEFAULTS]))}"
        for key in config
        if key not in DEFAULTS and key not in REQUIRED
    }
    merged = {**DEFAULTS, **config}
    for field in REQUIRED:
        value = merged.get(field)
        if not isinstance(value, str) or not value:
            errors[field] = "required: an absolute path"
        elif not Path(value).is_absolute():
            errors[field] = "must be an absolute path"
    if "base_model" not in errors:
        problem = base_model_problem(Path(merged["base_model"]), merged["model_family"])
        if problem:
            errors["base_model"] = problem
    if "dataset" not in errors:
        dataset = Path(merged["dataset"])
        if not dataset.is_file():
            errors["dataset"] = f"{dataset} is not a file"
        elif problem := first_record_problem(dataset):
            errors["dataset"] = f"{dataset}: {problem}"
    if merged["model_family"] not in ("auto", *FAMILIES):
        errors["model_family"] = f"must be one of: auto, {', '.join(FAMILIES)}"
    for field in ("learning_rate", "alpha"):
        if problem := positive_number_problem(merged[field]):
            errors[field] = problem
    for field, (low, high) in WHOLE_LIMITS.items():
        if problem := whole_number_problem(merged[field], low, high):
            errors[field] = problem
    targets = merged["target_modules"]
    if (
        not isinstance(targets, list)
        or not targets
        or not all(isinstance(t, str) and t in HF_TARGET_MODULES for t in targets)
    ):
        errors["target_modules"] = f"must be a non-empty list of: {', '.join(HF_TARGET_MODULES)}"
    for field in ("export_merged", "dry_run"):
        if not isinstance(merged[field], bool):
            errors[field] = "must be true or false"
    if not isinstance(merged["base_model_name"], str) or len(merged["base_model_name"]) > 200:
        errors["base_model_name"] = "must be text of at most 200 characters"
    if errors:
        raise TrainerConfigError(errors)
    merged["target_modules"] = sorted(set(targets), key=HF_TARGET_MODULES.index)
    merged["learning_rate"] = float(merged["learning_rate"])
    merged["alpha"] = float(merged["alpha"])
    return merged


def base_model_problem(directory: Path, family: str) -> str | None:
    """Return why `directory` is not a base checkpoint Tunix can load, or None."""
    if not directory.is_dir():
        return f"{directory} is not a directory"
    if not any(directory.glob("*.safetensors")):
        return f"{directory} holds no *.safetensors weights"
    try:
        family_for(directory, family if family in FAMILIES else "auto")
    except BaseModelError as exc:
        return str(exc)
    return None


def train(config: dict, output_dir: Path, session) -> dict:
    """Train in a child process, relaying its log and metrics; return the final metrics."""
    config = validate(config)
    output_dir.mkdir(parents=True, exist_ok=True)
    leftover = existing_steps(output_dir / CHECKPOINTS_DIRNAME)
    if leftover:
        # Tunix resumes silently from whatever it finds: a reused directory would skip training.
        raise TunixTrainingError(
            f"{output_dir / CHECKPOINTS_DIRNAME} already holds Orbax steps {', '.join(leftover)}; "
            "Tunix would resume from them instead of training. Use a new output directory."
        )
    session.log(
        f"tunix_lora_sft: base {config['base_model']} dataset {config['dataset']} "
        f"rank={config['rank']} alpha={config['alpha']} learning_rate={config['learning_rate']} "
        f"steps={config['steps']} batch_size={config['batch_size']} "
        f"sequence_length={config['sequence_length']} seed={config['seed']}"
    )
    recorder = MetricsRecorder(output_dir / METRICS_NAME, session, steps=config["steps"])
    child = TrainerProcess(output_dir)
    child.start({"config": config, "output_dir": str(output_dir)})
    session.log(f"Tunix trainer process started (pid {child.process.pid}; its log: tunix.log)")
    try:
        for event in child.events():
            recorder.handle(event)
            if session.should_stop():
                session.log("stopped on request")
                raise InterruptedError("Stopped on request.")
    finally:
        child.stop()
        recorder.write(final=True)
    if child.returncode != 0 or recorder.final is None:
        raise TunixTrainingError(recorder.error or child.failure())
    metrics = {**recorder.summary(), **recorder.final, "steps": config["steps"]}
    session.log(
        "done: " + " ".join(f"{k} {v:.5g}" for k, v in metrics.items() if isinstance(v, float))
    )
    return {**metrics, "dry_run": True} if config["dry_run"] else metrics


class TrainerProcess:
    """The child process that trains, and the pipe its events arrive on."""

    def __init__(self, output_dir: Path):
        self.log_path = output_dir / CHILD_LOG_NAME
        self.process: subprocess.Popen | None = None
        self._read_fd: int | None = None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process else None

    def start(self, request: dict) -> None:
        """Start `python -m runs.tunix.child` and send it the request."""
        from runs.tunix.child import EVENTS_FD_VARIABLE, PARENT_PID_VARIABLE

        self._read_fd, write_fd = os.pipe()
        env = {
            **os.environ,
            EVENTS_FD_VARIABLE: str(write_fd),
            PARENT_PID_VARIABLE: str(os.getpid()),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
            # The CPU is the only device here; probing for TPUs and GPUs costs seconds.
            "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        }
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runs.tunix.child"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                pass_fds=(write_fd,),
                env=env,
                cwd=PROJECT_ROOT,
                start_new_session=True,
            )
        os.close(write_fd)
        self.process.stdin.write(json.dumps(request).encode())
        self.process.stdin.close()

    def events(self):
        """Yield the child's events as they come, and None every POLL_SECONDS without one."""
        buffer = b""
        while True:
            ready, _, _ = select.select([self._read_fd], [], [], POLL_SECONDS)
            if not ready:
                yield None
                continue
            chunk = os.read(self._read_fd, 65536)
            if not chunk:
                break  # the child exited (or closed the pipe)
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield json.loads(line)
        self.process.wait()

    def stop(self) -> None:
        """End the child if it still runs (SIGTERM, then SIGKILL), and close the pipe."""
        if self.process and self.process.poll() is None:
            for sig, grace in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, None)):
                try:
                    os.killpg(self.process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd = None

    def failure(self) -> str:
        """Describe how the child ended, with the tail of its log."""
        code = self.returncode
        how = f"was killed by signal {-code}" if code and code < 0 else f"exited with status {code}"
        try:
            tail = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            tail = []
        shown = "\n".join(tail[-STDERR_TAIL_LINES:])
        return f"The Tunix trainer process {how}. The end of {self.log_path.name}:\n{shown}"


class MetricsRecorder:
    """Turn the child's events into the run's log, live metrics and metrics.json."""

    def __init__(self, path: Path, session, *, steps: int):
        self.path = path
        self.session = session
        self.steps = steps
        self.every = max(1, steps // 100)
        self.latest: dict[str, float] = {}
        self.loss_per_step: list[float] = []
        self.eval_loss_per_step: list[list[float]] = []
        self.final: dict | None = None
        self.error: str | None = None
        self._written = 0.0

    def handle(self, event: dict | None) -> None:
        """Apply one event from the child (None: nothing new, but time to write)."""
        if event is None:
            self.write()
            return
        kind = event.get("event")
        if kind == "log":
            self.session.log(event["line"])
        elif kind == "metric":
            self.metric(event["mode"], event["name"], event["value"], event["step"])
        elif kind == "final":
            self.final = event["metrics"]
        elif kind == "error":
            self.error = event["message"]
            self.session.log(f"refused: {self.error}")

    def metric(self, mode: str, name: str, value: float, step: int) -> None:
        """Record one scalar; a non-finite loss fails the run at that step."""
        if name == "loss" and not math.isfinite(value):
            self.session.log(f"step {step}: {mode} loss is {value}; stopping")
            raise FloatingPointError(
                f"Loss became {value} at step {step}; lower the learning rate."
            )
        if mode == "eval" and name not in EVAL_METRICS:
            return  # Tunix logs the learning rate under eval too: it is a training value
        key = name if mode == "train" else f"eval_{name}"
        self.latest[key] = value
        if mode == "train" and name == "loss":
            self.loss_per_step.append(value)
            self.latest["step"] = step
            if step % self.every == 0 or step == self.steps:
                self.session.log(f"step {step}/{self.steps} loss {value:.5f}")
            self.session.report({k: v for k, v in self.latest.items() if k != "grad_norm"})
        elif mode == "eval" and name == "loss":
            self.eval_loss_per_step.append([step, value])
            self.session.log(f"eval at step {step}: loss {value:.5f}")
            self.session.report({"eval_loss": value})
        self.write()

    def summary(self) -> dict:
        """Return the last value of each metric."""
        return {k: v for k, v in self.latest.items() if k not in ("step", "grad_norm")}

    def write(self, *, final: bool = False) -> None:
        """Rewrite metrics.json atomically, at most twice a second unless `final`."""
        now = time.monotonic()
        if not final and (now - self._written < METRICS_WRITE_SECONDS or not self.loss_per_step):
            return
        self._written = now
        data = {
            **self.summary(),
            "loss_per_step": self.loss_per_step,
            "eval_loss_per_step": self.eval_loss_per_step,
        }
        temporary = self.path.with_suffix(".json.partial")
        temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)
