"""Hyperparameter searches: a job, and its trials, each of which is a run."""

from django.db import models
from django.utils import timezone

from runs.lifecycle import LifeCycle, RunStatus
from tuning.exceptions import TuningError
from tuning.managers import TuningJobManager

# A job lives the same life as a run: one table of statuses and transitions for both.
JobStatus = RunStatus


class Mode(models.TextChoices):
    MIN = "min", "Minimise"
    MAX = "max", "Maximise"


class TuningJob(LifeCycle):
    """A search over a trainer's hyperparameters, executed on Ray Tune."""

    lifecycle_noun = "tuning job"
    transition_error_class = TuningError

    name = models.CharField(max_length=200)
    trainer = models.CharField(max_length=200)
    base_config = models.JSONField(default=dict, blank=True)
    search_space = models.JSONField(default=dict)
    metric = models.CharField(max_length=200, default="eval_loss")
    mode = models.CharField(max_length=3, choices=Mode.choices, default=Mode.MIN)
    num_samples = models.PositiveIntegerField(default=4)
    max_concurrent_trials = models.PositiveIntegerField(default=2)
    best_trial = models.ForeignKey(
        "TuningTrial", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ray_address = models.CharField(
        max_length=300, blank=True, help_text="An existing Ray cluster; blank starts Ray locally."
    )

    objects = TuningJobManager()

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    def start(self) -> "TuningJob":
        """Queue the job for the worker."""
        from tuning.tasks import execute_job  # the task module imports the models

        if self.status != JobStatus.PENDING:
            raise TuningError(
                f"Job {self.name} is {self.status}; only pending jobs start.", code="not_pending"
            )
        execute_job.enqueue(self.pk)
        return self

    def cancel(self) -> "TuningJob":
        """Cancel a pending or running job and its running trials' runs; refuse a finished one.

        Ray stops the trials at the stopper's next check (`tuning.execution`).
        """
        super().cancel()
        for trial in self.trials.filter(status=RunStatus.RUNNING).select_related("run"):
            if trial.run is not None and not trial.run.is_finished:
                trial.run.cancel()
        return self

    def execute(self, *, progress=None) -> "TuningJob":
        """Run the search on Ray Tune (in a worker, or the foreground `tune` command)."""
        from tuning.execution import execute_job

        return execute_job(self, progress=progress)

    def promote_best(self, artifact, version=None, tags=(), user=None):
        """Promote the best trial's run into `artifact`; return (version, created)."""
        from registry.models import ModelVersion

        if self.status != JobStatus.COMPLETED:
            raise TuningError(
                f"Job {self.name} is {self.status}; promote its best trial once it has completed.",
                code="job_not_finished",
            )
        trial = self.best_trial
        if trial is None or trial.run is None:
            raise TuningError(
                f"Job {self.name} has no successful trial to promote.", code="no_successful_trial"
            )
        return ModelVersion.objects.promote(
            artifact,
            trial.run,
            version=version,
            tags=tags,
            user=user,
            extra_provenance={
                "tuning_job_id": self.pk,
                "tuning_job_name": self.name,
                "tuning_trial_id": trial.pk,
                "ray_trial_id": trial.ray_trial_id,
                "tuning_metric": self.metric,
                "tuning_mode": self.mode,
                "tuning_metric_value": trial.metric_value,
            },
        )


class TuningTrial(models.Model):
    """One trial of a job: its parameters, its run, and the metric it reached."""

    job = models.ForeignKey(TuningJob, on_delete=models.CASCADE, related_name="trials")
    run = models.ForeignKey(
        "runs.TunixRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="trials"
    )
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    metric_value = models.FloatField(null=True, blank=True)
    ray_trial_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "ray_trial_id"], name="tuning_trial_ray_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job.name} trial {self.ray_trial_id or self.pk}"
