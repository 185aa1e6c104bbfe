"""Creating tuning jobs: every field validated before anything is saved."""

from django.conf import settings
from django.db import models

from runs.lifecycle import TERMINAL_STATUSES
from runs.trainers import TrainerConfigError, TrainerNotAllowed, validate_config
from tuning.exceptions import RAY_CLIENT_REFUSED, RAY_CLIENT_REFUSED_MESSAGE, TuningError
from tuning.search_space import validate as validate_search_space

MAX_SAMPLES = 1000


class TuningJobQuerySet(models.QuerySet):
    def newest_first(self):
        """Return jobs newest first."""
        return self.order_by("-created_at")

    def with_trial_counts(self):
        """Annotate `trials_total` and `trials_done` (finished trials)."""
        return self.annotate(
            trials_total=models.Count("trials"),
            trials_done=models.Count(
                "trials", filter=models.Q(trials__status__in=TERMINAL_STATUSES)
            ),
        )


class TuningJobManager(models.Manager.from_queryset(TuningJobQuerySet)):
    def create_job(
        self,
        *,
        name: str,
        trainer: str,
        search_space: dict,
        base_config: dict | None = None,
        metric: str = "eval_loss",
        mode: str = "min",
        num_samples: int = 4,
        max_concurrent_trials: int = 2,
        ray_address: str = "",
    ):
        """Validate every field (per-field errors) and save a pending job.

        A job that names no Ray cluster joins the one `RAY_ADDRESS` names, if any.
        """
        ray_address = (ray_address or settings.RAY_ADDRESS).strip()
        if ray_address.lower().startswith("ray://"):
            message = RAY_CLIENT_REFUSED_MESSAGE.format(address=ray_address)
            raise TuningError(message, code=RAY_CLIENT_REFUSED, errors={"ray_address": message})
        errors = {}
        try:
            base_config = validate_config(trainer, base_config)
        except TrainerNotAllowed as exc:
            errors["trainer"] = str(exc)
        except TrainerConfigError as exc:
            errors.update({f"base_config.{k}": v for k, v in exc.errors.items()})
        try:
            validate_search_space(search_space)
        except TuningError as exc:
            errors.update(exc.errors)
        if not isinstance(metric, str) or not metric.strip():
            errors["metric"] = "must name the metric to optimise, such as eval_loss"
        if mode not in ("min", "max"):
            errors["mode"] = "must be min or max"
        if not isinstance(num_samples, int) or not 1 <= num_samples <= MAX_SAMPLES:
            errors["num_samples"] = f"must be between 1 and {MAX_SAMPLES}"
        if not isinstance(max_concurrent_trials, int) or max_concurrent_trials < 1:
            errors["max_concurrent_trials"] = "must be at least 1"
        if errors:
            raise TuningError(
                "Invalid tuning job: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                code="invalid_job",
                errors=errors,
            )
        return self.create(
            name=name,
            trainer=trainer,
            base_config=base_config,
            search_space=search_space,
            metric=metric.strip(),
            mode=mode,
            num_samples=num_samples,
            max_concurrent_trials=max_concurrent_trials,
            ray_address=ray_address,
        )
