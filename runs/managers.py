"""Queries and table-level operations on runs."""

import os
import socket
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from runs.exceptions import RunLaunchError
from runs.lifecycle import TERMINAL_STATUSES, RunStatus


class TunixRunQuerySet(models.QuerySet):
    """Reads over runs, named in the domain's words."""

    def with_status(self, status: str | None):
        """Return runs with `status`, or all runs when it is empty."""
        return self.filter(status=status) if status else self

    def completed(self):
        """Return runs that finished successfully."""
        return self.filter(status=RunStatus.COMPLETED)

    def promotable(self):
        """Return finished runs with an output directory: completed, or failed (with force)."""
        return self.filter(status__in=[RunStatus.COMPLETED, RunStatus.FAILED]).exclude(
            output_dir=""
        )

    def newest_first(self):
        """Return runs ordered newest first."""
        return self.order_by("-created_at")


class TunixRunManager(models.Manager.from_queryset(TunixRunQuerySet)):
    """Create runs: registered from directories trained elsewhere, launched, or trials."""

    def register_directory(
        self,
        path: str | Path,
        *,
        name: str = "",
        config: dict | None = None,
        metrics: dict | None = None,
        status: str = RunStatus.COMPLETED,
        eval_status: str | None = None,
    ):
        """Validate and save a run for an existing output directory; raise ValidationError.

        Without `metrics`, they are read from the TensorBoard event files a Tunix run writes.
        """
        directory = Path(path).expanduser().absolute()
        if metrics is None and directory.is_dir():
            from runs.tunix.events import read_tensorboard_metrics

            metrics = read_tensorboard_metrics(directory)
        run = self.model(
            name=name or directory.name,
            output_dir=str(directory),
            config=config if config is not None else {},
            metrics=metrics if metrics is not None else {},
            status=status,
            finished_at=timezone.now() if status in TERMINAL_STATUSES else None,
        )
        if eval_status is not None:
            run.eval_status = eval_status
        run.full_clean()
        run.save()
        return run

    def ensure_demo_runs(self, root: Path) -> tuple[int, int]:
        """Create the demo runs and their files under `root` unless present; return (new, kept)."""
        from runs import demo  # demo data is optional: keep numpy off the import path of models

        created = kept = 0
        for spec in demo.DEMO_RUNS:
            directory = root / spec.slug
            if not directory.is_dir():
                demo.write_outputs(spec, directory)
            _, was_created = self.get_or_create(
                id=spec.id,
                defaults={
                    "name": f"demo-{spec.slug}",
                    "status": spec.status,
                    "config": spec.config,
                    "metrics": spec.metrics,
                    "eval_status": spec.eval_status,
                    "output_dir": str(directory),
                    "base_model_id": demo.BASE_MODEL,
                    "dataset_id": spec.dataset_id,
                    "git_sha": "0000000000000000000000000000000000000000",
                    "error": spec.error,
                    "started_at": timezone.now(),
                    "finished_at": timezone.now(),
                },
            )
            created += was_created
            kept += not was_created
        return created, kept

    def launch(self, *, name: str, trainer: str, config: dict | None = None):
        """Validate and create a pending run for `trainer`, and queue it for a worker."""
        from runs.tasks import execute_run  # the task module imports the models
        from runs.trainers import TrainerConfigError, TrainerNotAllowed, validate_config

        try:
            config = validate_config(trainer, config)
        except TrainerNotAllowed as exc:
            raise RunLaunchError(str(exc), errors={"trainer": str(exc)}) from None
        except TrainerConfigError as exc:
            raise RunLaunchError(
                f"Invalid config: {exc}", errors={f"config.{k}": v for k, v in exc.errors.items()}
            ) from None
        with transaction.atomic():
            run = self.create(
                name=name,
                trainer=trainer,
                config=config,
                status=RunStatus.PENDING,
                **inputs_named_by(config),
            )
            run.output_dir = str(settings.RUNS_ROOT / str(run.pk))
            run.save(update_fields=["output_dir"])
            transaction.on_commit(lambda: execute_run.enqueue(str(run.pk)))
        return run

    def start_trial(self, *, run_id, name: str, trainer: str, config: dict, worker: str):
        """Create the running run of one trial of a search, its output under RUNS_ROOT.

        The trial's process trains into that directory; the caller records how it ends.
        """
        run = self.create(
            id=run_id,
            name=name,
            trainer=trainer,
            config=config,
            status=RunStatus.PENDING,
            output_dir=str(settings.RUNS_ROOT / str(run_id)),
            worker=worker,
            **inputs_named_by(config),
        )
        return run.record_progress(status=RunStatus.RUNNING)

    def fail_vanished(self, *, host: str | None = None) -> list:
        """Mark failed the running runs whose worker on this host is gone; return them."""
        host = host or socket.gethostname()
        failed = []
        for run in self.filter(status=RunStatus.RUNNING, worker__startswith=f"{host}:"):
            pid = int(run.worker.rsplit(":", 1)[1])
            if pid_alive(pid):
                continue
            run.record_progress(
                status=RunStatus.FAILED,
                error=(
                    f"The worker executing this run ({run.worker}) stopped without finishing it; "
                    "marked failed when a worker started again."
                ),
            )
            failed.append(run)
        return failed


def inputs_named_by(config: dict) -> dict:
    """Return the base model and dataset a trainer's config names, as the run records them."""
    base = config.get("base_model_name") or config.get("base_model") or ""
    dataset = config.get("dataset") or ""
    # A path too long for the column keeps its meaningful end: the directory or file name.
    return {
        "base_model_id": base if len(base) <= 200 else Path(base).name[-200:],
        "dataset_id": dataset if len(dataset) <= 200 else Path(dataset).name[-200:],
    }


def pid_alive(pid: int) -> bool:
    """Return whether a process with `pid` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
