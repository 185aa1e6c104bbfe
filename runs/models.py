"""A Tunix post-training run: its life cycle, configuration, metrics and output directory."""

import contextlib
import json
import logging
import math
import os
import socket
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import OperationalError, models

from runs.execution import LOG_NAME, describe_failure, run_training
from runs.lifecycle import EvalStatus, LifeCycle, RunStatus
from runs.managers import TunixRunManager

ERROR_OUTPUT_DIR_RELATIVE = "The output directory must be an absolute path; got {path!r}."
ERROR_OUTPUT_DIR_MISSING = "The output directory {path!r} does not exist or is not a directory."
ERROR_NOT_AN_OBJECT = "Must be a JSON object, such as {example}."
ERROR_OUTSIDE_ROOTS = (
    "The output directory {path!r} is outside the allowed run roots ({roots}); move the run "
    "there or add its parent to RUN_ROOTS."
)
ERROR_NON_FINITE = (
    "Holds {value} at {where}; JSON has no NaN or Infinity. Send null or leave the key out."
)

# The metrics a list of runs shows, when a run has them (a Tunix run records a dozen).
HEADLINE_METRICS = ("loss", "eval_loss", "perplexity", "eval_perplexity", "eval_accuracy")
# The run page shows the end of the log; reading more than this would only be thrown away.
LOG_TAIL_BYTES = 64 * 1024

logger = logging.getLogger(__name__)


def run_roots() -> list[Path]:
    """Return the directories run outputs may live under, symlinks resolved."""
    return [Path(root).resolve() for root in settings.RUN_ROOTS]


def is_within_run_roots(path: str | Path) -> bool:
    """Return whether `path`, symlinks resolved, lies inside one of the allowed run roots."""
    real = Path(path).resolve()
    return any(real == root or real.is_relative_to(root) for root in run_roots())


def non_finite_numbers(value, where: str = "") -> list[tuple[str, float]]:
    """Return (key path, number) for every NaN or infinity nested in a JSON-like value."""
    if isinstance(value, float) and not math.isfinite(value):
        return [(where or "(top level)", value)]
    if isinstance(value, dict):
        return [
            hit
            for k, v in value.items()
            for hit in non_finite_numbers(v, f"{where}.{k}".lstrip("."))
        ]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in non_finite_numbers(v, f"{where}[{i}]")]
    return []


def without_non_finite(value):
    """Return a copy of a JSON-like value with NaN and infinities replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: without_non_finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_non_finite(v) for v in value]
    return value


def validate_output_dir(value: str) -> None:
    """Refuse an output directory that is relative or does not exist."""
    if not value:
        return
    path = Path(value)
    if not path.is_absolute():
        raise ValidationError(ERROR_OUTPUT_DIR_RELATIVE.format(path=value), code="relative")
    if not is_within_run_roots(path):
        roots = ", ".join(str(root) for root in run_roots())
        raise ValidationError(ERROR_OUTSIDE_ROOTS.format(path=value, roots=roots), code="outside")
    if not path.is_dir():
        raise ValidationError(ERROR_OUTPUT_DIR_MISSING.format(path=value), code="missing")


def validate_json_object(value) -> None:
    """Refuse JSON that is not an object: configs and metrics are key-value maps."""
    if not isinstance(value, dict):
        raise ValidationError(
            ERROR_NOT_AN_OBJECT.format(example='{"loss": 0.42}'), code="not_an_object"
        )
    bad = non_finite_numbers(value)
    if bad:
        where, number = bad[0]
        raise ValidationError(ERROR_NON_FINITE.format(value=number, where=where), code="non_finite")


class TunixRun(LifeCycle):
    """One post-training run of Tunix, launched here or registered from elsewhere."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    config = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    metrics = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    eval_status = models.CharField(
        max_length=16, choices=EvalStatus.choices, default=EvalStatus.NONE
    )
    output_dir = models.CharField(
        max_length=1024,
        blank=True,
        validators=[validate_output_dir],
        help_text="Absolute path of the run's output directory.",
    )
    trainer = models.CharField(
        max_length=200, blank=True, help_text="Dotted path of the trainer, for launched runs."
    )
    worker = models.CharField(
        max_length=200, blank=True, help_text="host:pid of the worker executing the run."
    )
    base_model_id = models.CharField(max_length=200, blank=True)
    dataset_id = models.CharField(max_length=200, blank=True)
    git_sha = models.CharField(max_length=64, blank=True)

    objects = TunixRunManager()

    class Meta(LifeCycle.Meta):
        verbose_name = "Tunix run"

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    def record_progress(
        self,
        *,
        status: str | None = None,
        metrics: dict | None = None,
        eval_status: str | None = None,
        output_dir: str | None = None,
        error: str | None = None,
    ) -> "TunixRun":
        """Apply a status change and new results under the life-cycle rules, saving only those."""
        if metrics is not None and non_finite_numbers(metrics):
            # A diverged trainer reports NaN; keep the rest of its record rather than lose it.
            logger.warning(
                "Run %s reported non-finite metrics %s; stored as null.",
                self.pk,
                non_finite_numbers(metrics),
            )
            metrics = without_non_finite(metrics)
        return self.move_to(
            self.status if status is None else status,
            error=error,
            metrics=metrics,
            eval_status=eval_status,
            output_dir=output_dir,
        )

    def execute(self) -> None:
        """Run the trainer for a launched run, recording status, log, metrics and errors."""
        if self.status != RunStatus.PENDING:
            return  # cancelled (or taken) before a worker reached it
        output_dir = Path(self.output_dir or settings.RUNS_ROOT / str(self.pk))
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.output_dir = str(output_dir)
        self.save(update_fields=["worker", "output_dir", "updated_at"])
        self.record_progress(status=RunStatus.RUNNING)
        try:
            final = run_training(
                self.trainer,
                self.config,
                output_dir,
                on_report=RunProgress(self).report,
                should_stop=self.cancel_watch(),
            )
        except Exception as exc:
            self.refresh_from_db()
            if self.status == RunStatus.RUNNING:
                self.record_progress(status=RunStatus.FAILED, error=describe_failure(exc))
            return
        self.refresh_from_db()
        if self.status == RunStatus.RUNNING:
            self.record_progress(
                status=RunStatus.COMPLETED,
                metrics={k: v for k, v in final.items() if k != "dry_run"},
                eval_status=EvalStatus.COMPLETED,
            )

    @property
    def headline_metrics(self) -> dict:
        """Return the metrics a list of runs shows: the losses and accuracy, when recorded."""
        scalars = self.scalar_metrics
        headline = {k: scalars[k] for k in HEADLINE_METRICS if k in scalars}
        return headline or scalars

    @property
    def scalar_metrics(self) -> dict:
        """Return the metrics that are single values (a loss curve is shown as a chart)."""
        return {k: v for k, v in (self.metrics or {}).items() if not isinstance(v, list | dict)}

    def log_tail(self, lines: int = 200) -> str:
        """Return the last `lines` lines of the run's log, or an empty string."""
        if not self.output_dir:
            return ""
        log = Path(self.output_dir) / LOG_NAME
        try:
            with open(log, "rb") as handle:
                handle.seek(max(0, log.stat().st_size - LOG_TAIL_BYTES))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def loss_curve(self) -> list[float]:
        """Return the loss per step from the trainer's metrics.json, or as imported, if any."""
        data = self.metrics
        # No metrics.json yet, or a run imported with its curve in `metrics`: keep those.
        with contextlib.suppress(OSError, ValueError):
            if self.output_dir:
                data = json.loads(
                    (Path(self.output_dir) / "metrics.json").read_text(encoding="utf-8")
                )
        losses = data.get("loss_per_step") if isinstance(data, dict) else None
        return [v for v in losses if isinstance(v, int | float)] if isinstance(losses, list) else []

    def output_dir_is_allowed(self) -> bool:
        """Return whether the output directory lies inside the allowed run roots."""
        return bool(self.output_dir) and is_within_run_roots(self.output_dir)

    def output_files(self) -> list[dict]:
        """List the regular files under the output directory: relative path, size, valid UTF-8.

        A name that is not valid UTF-8 is listed with its bad bytes escaped (`bad\\xff.bin`) and
        `valid_utf8` false: it cannot be encoded as JSON or HTML as it is, and promotion refuses it.
        """
        if not self.output_dir:
            return []
        root = Path(self.output_dir)
        if not root.is_dir():
            return []
        files = []
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                raw = os.fsencode(path.relative_to(root).as_posix())
                files.append(
                    {
                        "path": raw.decode("utf-8", errors="backslashreplace"),
                        "size": path.stat().st_size,
                        "valid_utf8": is_utf8(raw),
                    }
                )
        return sorted(files, key=lambda item: item["path"].encode())


def is_utf8(raw: bytes) -> bool:
    """Return whether `raw` decodes as UTF-8."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class RunProgress:
    """Intermediate metrics of a run being executed, without a query per training step."""

    INTERVAL_SECONDS = 0.5

    def __init__(self, run: TunixRun):
        self.run = run
        self._last_report = 0.0

    def report(self, metrics: dict) -> None:
        """Record intermediate metrics on the run, at most twice a second."""
        now = time.monotonic()
        if now - self._last_report >= self.INTERVAL_SECONDS:
            self._last_report = now
            try:
                self.run.record_progress(metrics={**self.run.metrics, **metrics})
            except OperationalError:
                # A busy database must not fail the training: the next report, or the final
                # metrics, will be recorded.
                logger.warning(
                    "Run %s: could not record progress now (database busy).", self.run.pk
                )
