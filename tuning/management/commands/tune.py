import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tuning.exceptions import TuningError
from tuning.models import TuningJob


class Command(BaseCommand):
    help = "Create a tuning job and run it on Ray Tune in the foreground, showing progress."

    def add_arguments(self, parser):
        parser.add_argument("--trainer", required=True, help="Dotted path of an allowed trainer.")
        parser.add_argument("--space", required=True, help="A JSON file with the search space.")
        parser.add_argument("--metric", default="eval_loss")
        parser.add_argument("--mode", default="min", choices=["min", "max"])
        parser.add_argument("--samples", type=int, default=4, help="Samples (times each grid).")
        parser.add_argument("--concurrent", type=int, default=2, help="Trials at once.")
        parser.add_argument("--config", help="A JSON file with the base config.")
        parser.add_argument("--name", default="", help="Job name (default: the space file's).")
        parser.add_argument("--ray-address", default="", help="An existing Ray cluster.")

    def handle(self, *args, **options):
        space = read_json(options["space"], "search space")
        base_config = read_json(options["config"], "config") if options["config"] else {}
        try:
            job = TuningJob.objects.create_job(
                name=options["name"] or Path(options["space"]).stem,
                trainer=options["trainer"],
                base_config=base_config,
                search_space=space,
                metric=options["metric"],
                mode=options["mode"],
                num_samples=options["samples"],
                max_concurrent_trials=options["concurrent"],
                ray_address=options["ray_address"],
            )
        except TuningError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Tuning job {job.pk}: {job.name} ({job.metric}, {job.mode})")

        def progress(job, trial, event, finished):
            value = (
                f" {job.metric}={trial.metric_value:.5g}" if trial.metric_value is not None else ""
            )
            self.stdout.write(
                f"  [{finished} done] trial {trial.ray_trial_id} {event} {trial.params}{value}"
            )
            sys.stdout.flush()

        job.execute(progress=progress)
        job.refresh_from_db()
        if job.status != "completed":
            raise CommandError(
                f"Job {job.pk} {job.status}: {job.error.splitlines()[0] if job.error else ''}"
            )
        if job.best_trial is None:
            raise CommandError(f"Job {job.pk} completed, but no trial succeeded.")
        best = job.best_trial
        self.stdout.write(
            f"Best trial {best.ray_trial_id}: {job.metric}={best.metric_value:.5g} {best.params} "
            f"(run {best.run_id})"
        )


def read_json(path: str, what: str):
    """Read a JSON file, or fail in one line naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"The {what} file {path} does not exist.") from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"The {what} file {path} is not valid JSON: {exc}") from None
