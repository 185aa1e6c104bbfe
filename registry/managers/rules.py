"""Promotion rules: which runs may become versions, and what a version is named and records."""

import functools
import hashlib
import math

from django.conf import settings

from registry.exceptions import PromotionError
from runs.lifecycle import EvalStatus, RunStatus

ERROR_RUN_NOT_COMPLETED = "Run {run} is {status}; only completed runs can be promoted."
ERROR_RUN_FAILED = (
    "Run {run} failed; promote it anyway only with force (the version records that it was forced)."
)
ERROR_DRY_RUN = "Run {run} was a dry run and wrote no weights; there is nothing to promote."
ERROR_NO_OUTPUT_DIR = "Run {run} has no output directory to promote."
ERROR_OUTSIDE_ROOTS = (
    "Run {run}'s output directory {path} is outside the allowed run roots (RUN_ROOTS); "
    "nothing from there is promoted."
)
ERROR_EVAL_REQUIRED = (
    "{artifact} only accepts runs whose evaluation is completed; run {run}'s evaluation is "
    "{status}. Finish the evaluation (or change the model's promotion gate) and promote again."
)


def version_commit(artifact_id: int, label: str, digest: str) -> str:
    """Return a version's Hub commit id: 40 hex digits naming this model, label and content.

    Labels are unique within a model and the digest pins the bytes, so an id never names two
    different contents. Migration 0006 copies this formula for versions promoted before it.
    """
    return hashlib.sha1(  # noqa: S324 (an identifier shaped like a git commit, not a signature)
        f"tunix-rt version\0{artifact_id}\0{label}\0{digest}".encode()
    ).hexdigest()


@functools.cache
def requirements_fingerprint() -> str:
    """Return the SHA-256 of requirements.txt: which dependency set promoted a version."""
    try:
        return hashlib.sha256((settings.BASE_DIR / "requirements.txt").read_bytes()).hexdigest()
    except OSError:
        return ""


def searchable_metrics(metrics: dict) -> dict[str, float]:
    """Return the finite numeric top-level metrics: the ones versions can be searched by."""
    return {
        key: float(value)
        for key, value in (metrics or {}).items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and len(key) <= 200
    }


def check_promotable(run, *, force: bool, artifact=None) -> None:
    """Refuse a run that cannot be promoted (into `artifact`), with a code per reason."""
    if run.status == RunStatus.FAILED and not force:
        raise PromotionError(ERROR_RUN_FAILED.format(run=run.name), code="run_failed")
    if run.status not in (RunStatus.COMPLETED, RunStatus.FAILED):
        raise PromotionError(
            ERROR_RUN_NOT_COMPLETED.format(run=run.name, status=run.status),
            code="run_not_completed",
        )
    if (run.config or {}).get("dry_run") is True:
        raise PromotionError(ERROR_DRY_RUN.format(run=run.name), code="dry_run")
    if not run.output_dir:
        raise PromotionError(ERROR_NO_OUTPUT_DIR.format(run=run.name), code="no_output_dir")
    if (
        artifact is not None
        and artifact.requires_completed_eval
        and run.eval_status != EvalStatus.COMPLETED
    ):
        raise PromotionError(
            ERROR_EVAL_REQUIRED.format(
                artifact=artifact.name, run=run.name, status=run.eval_status
            ),
            code="evaluation_required",
        )
    if not run.output_dir_is_allowed():
        # Checked again here, not only when the path was set: settings and symlinks change.
        raise PromotionError(
            ERROR_OUTSIDE_ROOTS.format(run=run.name, path=run.output_dir), code="outside_run_roots"
        )
