"""Executing a tuning job on Ray Tune.

Trials train in Ray's worker processes through `runs.execution.run_training`, the same code
path as a launched run, writing into `RUNS_ROOT/<run id>/`. Every database write happens here, in
the driver, through Tune callbacks: trial processes (on this machine or on a Ray cluster) need the
shared run directory, never the database. Ray is started for the job and stopped after it, unless
`ray_address` names an existing cluster.
"""

import os
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from runs.execution import ERROR_NAME, describe_failure
from runs.lifecycle import EvalStatus, RunStatus
from runs.models import TunixRun
from tuning.models import JobStatus
from tuning.search_space import to_ray
from tuning.trial import numeric_metrics, train_trial, trial_run_id, trial_worker

# Progress reporters by job id: Ray Tune pickles its callbacks, and a reporter (a command's
# stdout, say) need not be picklable, so callbacks look theirs up here instead of holding it.
PROGRESS_REPORTERS: dict = {}


def report_progress(job, record, event: str, finished: int) -> None:
    reporter = PROGRESS_REPORTERS.get(job.pk)
    if reporter:
        reporter(job, record, event, finished)


def make_callbacks(job):
    """Build the driver-side Tune callback and stopper that keep the database in step."""
    from ray import tune

    class TrialRecorder(tune.Callback):
        """Create each trial's run as it starts; record how it ends."""

        def __init__(self):
            self.trials = {}
            self.finished = 0

        def on_trial_start(self, iteration, trials, trial, **info):
            run = TunixRun.objects.start_trial(
                run_id=trial_run_id(job.pk, trial.trial_id),
                name=f"{job.name} · trial {len(self.trials) + 1}",
                trainer=job.trainer,
                config={**job.base_config, **trial.config},
                worker=f"ray:{trial.trial_id}",
            )
            self.trials[trial.trial_id] = job.trials.create(
                run=run, params=trial.config, status=RunStatus.RUNNING, ray_trial_id=trial.trial_id
            )
            report_progress(job, self.trials[trial.trial_id], "started", self.finished)

        def on_trial_complete(self, iteration, trials, trial, **info):
            record = self.trials.get(trial.trial_id)
            if record is None:
                return
            metrics = numeric_metrics(trial.last_result or {})
            if trial.last_result:
                # Where the trial ran is known once it reports: its result names the process.
                record.run.worker = trial_worker(trial.trial_id, trial.last_result)
                record.run.save(update_fields=["worker", "updated_at"])
            job.refresh_from_db(fields=["status"])
            if job.status == JobStatus.CANCELLED or job.metric not in metrics:
                self.end(record, RunStatus.CANCELLED, "Stopped: the tuning job was cancelled.")
                return
            record.run.record_progress(
                status=RunStatus.COMPLETED, metrics=metrics, eval_status=EvalStatus.COMPLETED
            )
            record.status = RunStatus.COMPLETED
            record.metric_value = metrics[job.metric]
            record.save(update_fields=["status", "metric_value"])
            self.finished += 1
            report_progress(job, record, "completed", self.finished)

        def on_trial_error(self, iteration, trials, trial, **info):
            record = self.trials.get(trial.trial_id)
            if record is None:
                return
            error_file = Path(record.run.output_dir) / ERROR_NAME
            error = (
                error_file.read_text(encoding="utf-8")
                if error_file.is_file()
                else f"The trial failed in Ray: {trial.error_file or 'no error file'}"
            )
            self.end(record, RunStatus.FAILED, error)
            self.finished += 1
            report_progress(job, record, "failed", self.finished)

        def end(self, record, status, error):
            """Record how a trial ended, on its row and its run."""
            record.run.refresh_from_db()
            if not record.run.is_finished:
                record.run.record_progress(status=status, error=error)
            record.status = status
            record.save(update_fields=["status"])

    class StopWhenCancelled(tune.Stopper):
        """Stop every trial once the job is cancelled, as the job's `CancelWatch` tells."""

        def __init__(self):
            self.cancelled = job.cancel_watch()

        def __call__(self, trial_id, result):
            return self.cancelled()

        def stop_all(self):
            return self.cancelled()

    return TrialRecorder(), StopWhenCancelled()


def ray_init_options(address: str) -> dict:
    """Return `ray.init`'s arguments: join the cluster at `address`, or start Ray here."""
    import runs
    import tuning

    quiet = {"log_to_driver": False, "configure_logging": False}
    if address:
        # A cluster's workers have none of our code on their path: Ray ships these packages to
        # them. Resources are the cluster's own; Ray refuses num_cpus from a driver that joins.
        packages = [str(Path(package.__file__).parent) for package in (runs, tuning)]
        return {**quiet, "address": address, "runtime_env": {"py_modules": packages}}
    # "local", not None: None would join whatever cluster RAY_ADDRESS or /tmp/ray points at.
    return {
        **quiet,
        "address": "local",
        "num_cpus": os.cpu_count(),
        "include_dashboard": False,
        "runtime_env": {"env_vars": {"PYTHONPATH": str(settings.BASE_DIR)}},
    }


def execute_job(job, *, progress=None):
    """Run the job's search to the end, recording trials and the best one; return the job."""
    import ray
    from ray import tune

    job.move_to(JobStatus.RUNNING)
    started_here = not ray.is_initialized()
    recorder, stopper = make_callbacks(job)
    if progress:
        PROGRESS_REPORTERS[job.pk] = progress
    try:
        if started_here:
            ray.init(**ray_init_options(job.ray_address))
        tuner = tune.Tuner(
            tune.with_parameters(
                train_trial,
                job_id=job.pk,
                trainer=job.trainer,
                base_config=job.base_config,
                runs_root=str(settings.RUNS_ROOT),
                metric=job.metric,
                allowed_trainers=list(settings.RUN_TRAINERS),
            ),
            param_space=to_ray(job.search_space),
            tune_config=tune.TuneConfig(
                metric=job.metric,
                mode=job.mode,
                num_samples=job.num_samples,
                max_concurrent_trials=job.max_concurrent_trials,
            ),
            run_config=tune.RunConfig(
                name=f"job-{job.pk}-{timezone.now():%Y%m%dT%H%M%S}",
                storage_path=str(settings.RAY_STORAGE_PATH),
                callbacks=[recorder],
                stop=stopper,
                verbose=0,
            ),
        )
        results = tuner.fit()
    except Exception as exc:
        job.refresh_from_db()
        if not job.is_finished:
            job.move_to(JobStatus.FAILED, error=describe_failure(exc))
        return job
    finally:
        PROGRESS_REPORTERS.pop(job.pk, None)
        if started_here and ray.is_initialized():
            ray.shutdown()
    job.refresh_from_db()
    # Trials Ray stopped without a result never reach a callback: close them here.
    for record in recorder.trials.values():
        record.refresh_from_db()
        if record.status == RunStatus.RUNNING:
            ended = RunStatus.CANCELLED if job.status == JobStatus.CANCELLED else RunStatus.FAILED
            recorder.end(record, ended, "Stopped before it reported a result.")
    if job.status == JobStatus.CANCELLED:
        return job
    best_trial = None
    try:
        best = results.get_best_result(metric=job.metric, mode=job.mode, filter_nan_and_inf=True)
        best_trial = job.trials.filter(ray_trial_id=best.metrics.get("trial_id")).first()
    except RuntimeError:
        pass  # no trial reported the metric: every trial failed
    if best_trial is None or best_trial.status != RunStatus.COMPLETED:
        best_trial = None
    job.best_trial = best_trial
    job.save(update_fields=["best_trial", "updated_at"])
    job.move_to(
        JobStatus.COMPLETED,
        error="" if best_trial else "No trial succeeded; see each trial's run for its error.",
    )
    return job
