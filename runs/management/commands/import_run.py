import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from runs.lifecycle import RunStatus
from runs.models import TunixRun


def read_json_object(path: str, what: str) -> dict:
    """Read a JSON object from `path`, or fail with one line naming the file and the problem."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"The {what} file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"The {what} file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CommandError(
            f"The {what} file {path} must hold a JSON object, not {type(data).__name__}."
        )
    return data


class Command(BaseCommand):
    help = "Register an existing output directory (trained elsewhere) as a run; print its id."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The run's output directory.")
        parser.add_argument("--name", default="", help="Run name (default: the directory's name).")
        parser.add_argument("--config", help="A JSON file with the training config.")
        parser.add_argument("--metrics", help="A JSON file with the final metrics.")
        parser.add_argument("--status", default=RunStatus.COMPLETED, choices=RunStatus.values)

    def handle(self, *args, **options):
        config = read_json_object(options["config"], "config") if options["config"] else None
        metrics = read_json_object(options["metrics"], "metrics") if options["metrics"] else None
        try:
            run = TunixRun.objects.register_directory(
                options["path"],
                name=options["name"],
                config=config,
                metrics=metrics,
                status=options["status"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(str(run.id))
