"""Trainers: pluggable by dotted path, listed in the RUN_TRAINERS setting.

A trainer is a module with two functions:

- `validate(config: dict) -> dict`: return the normalized config, or raise `TrainerConfigError`
  whose `errors` map each bad field to a message;
- `train(config: dict, output_dir: Path, session: TrainingSession) -> dict`: train, write the
  outputs into `output_dir`, and return the final metrics. It calls `session.log(line)` for its
  log, `session.report(metrics)` as metrics come, and stops early when `session.should_stop()`.

A trainer that reads files (a base checkpoint, a dataset) names the config fields holding their
paths in `INPUT_PATH_FIELDS`; `validate_config` keeps them inside TRAINING_INPUT_ROOTS.
"""

import importlib
import math
from pathlib import Path
from types import ModuleType

from django.conf import settings


class TrainerConfigError(ValueError):
    """A trainer config with field-level problems."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def positive_number_problem(value) -> str | None:
    """Return why `value` is not a finite positive number (a learning rate, an alpha), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return "must be a positive number"
    if not math.isfinite(value):
        return "must be finite"
    return None


def whole_number_problem(value, low: int | None = None, high: int | None = None) -> str | None:
    """Return why `value` is not a whole number within [low, high] (when given), or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be a whole number"
    if low is not None and high is not None and not low <= value <= high:
        return f"must be between {low} and {high}"
    if value < 0:
        return "must not be negative"
    return None


class TrainerNotAllowed(ValueError):
    """The dotted path is not one of the allowed trainers."""


def load_trainer(path: str, *, allowed: list[str] | None = None) -> ModuleType:
    """Import an allowed trainer module by its dotted path.

    `allowed` defaults to the RUN_TRAINERS setting; Ray trial processes, which have no Django
    settings, pass the list the driver already checked.
    """
    allowed = settings.RUN_TRAINERS if allowed is None else allowed
    if path not in allowed:
        raise TrainerNotAllowed(f"Unknown trainer {path!r}; allowed: {', '.join(allowed)}.")
    return importlib.import_module(path)


ERROR_OUTSIDE_INPUT_ROOTS = "{path} is outside the training input roots ({roots})"


def validate_config(path: str, config: dict | None) -> dict:
    """Return `config` normalized by the trainer at `path`, its input paths checked.

    Raises TrainerNotAllowed, or TrainerConfigError with one message per bad field.
    """
    trainer = load_trainer(path)
    config = trainer.validate(config or {})
    roots = [Path(root).resolve() for root in settings.TRAINING_INPUT_ROOTS]
    errors = {}
    for field in getattr(trainer, "INPUT_PATH_FIELDS", ()):
        real = Path(config[field]).resolve()
        if not any(real == root or real.is_relative_to(root) for root in roots):
            errors[field] = ERROR_OUTSIDE_INPUT_ROOTS.format(
                path=config[field], roots=", ".join(str(r) for r in roots)
            )
    if errors:
        raise TrainerConfigError(errors)
    return config
