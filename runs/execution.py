"""Running a trainer: the one code path for launched runs (the worker) and Ray Tune trials.

`run_training` knows nothing of the database: it loads the trainer, writes the log to
`OUTPUT_DIR/run.log` and hands metrics to a callback. The caller decides where they go: the
run's row (`TunixRun.execute`) or Ray Tune (`tuning/execution.py`).
"""

import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from runs.trainers import load_trainer

LOG_NAME = "run.log"
# Where a failure is written for a driver in another process (Ray Tune) to read.
ERROR_NAME = "error.txt"
TRACEBACK_LINES = 20


class TrainingSession:
    """What a trainer talks to: a log, a metrics sink and a stop signal."""

    def __init__(
        self,
        log_file: TextIO,
        on_report: Callable[[dict], None],
        should_stop: Callable[[], bool],
    ):
        self._log_file = log_file
        self._on_report = on_report
        self._should_stop = should_stop

    def log(self, line: str) -> None:
        """Append a timestamped line to run.log, flushed so the run page can tail it."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._log_file.write(f"{stamp} {line}\n")
        self._log_file.flush()

    def report(self, metrics: dict) -> None:
        """Hand intermediate metrics to whoever runs the trainer."""
        self._on_report(metrics)

    def should_stop(self) -> bool:
        """Return whether the run was cancelled."""
        return self._should_stop()


def run_training(
    trainer_path: str,
    config: dict,
    output_dir: Path,
    *,
    on_report: Callable[[dict], None] = lambda metrics: None,
    should_stop: Callable[[], bool] = lambda: False,
    allowed_trainers: list[str] | None = None,
) -> dict:
    """Train with the trainer at `trainer_path` into `output_dir`; return the final metrics."""
    trainer = load_trainer(trainer_path, allowed=allowed_trainers)
    config = trainer.validate(config)
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / LOG_NAME, "a", encoding="utf-8") as log_file:
        session = TrainingSession(log_file, on_report, should_stop)
        try:
            return trainer.train(config, output_dir, session)
        except Exception as exc:
            session.log(f"FAILED: {describe_failure(exc)}")
            (output_dir / ERROR_NAME).write_text(describe_failure(exc), encoding="utf-8")
            raise


def describe_failure(exc: BaseException) -> str:
    """Return the error and the end of its traceback, as stored in a failed run's `error`."""
    lines = traceback.format_exception(exc)
    tail = "".join(lines[-TRACEBACK_LINES:]).rstrip()
    return f"{type(exc).__name__}: {exc}\n\n{tail}"
