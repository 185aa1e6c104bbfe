from django.core.checks import Tags
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from registry.exceptions import RegistryError
from registry.models import ModelArtifact, ModelVersion
from registry.progress import TerminalProgress
from runs.models import TunixRun


class Command(BaseCommand):
    # Only the model checks: the full set imports the whole URL configuration and the API schema
    # generator, more than half a second before any work (`manage.py check` runs them all).
    requires_system_checks = [Tags.models]
    help = "Promote a completed run's model directory into a new version of a model."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version names the new model version here, not Django's version.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("run_id", help="The run's id (UUID).")
        parser.add_argument("--model", required=True, help="The model's name (any case).")
        parser.add_argument("--version", help="A label such as 2026.03-rc1 (default: next vN).")
        parser.add_argument("--tag", action="append", default=[], dest="tags", help="Repeatable.")
        parser.add_argument("--force", action="store_true", help="Promote a failed run anyway.")
        parser.add_argument(
            "--create-model", action="store_true", help="Create the model if it does not exist."
        )

    def handle(self, *args, **options):
        try:
            run = TunixRun.objects.get(pk=options["run_id"])
        except (TunixRun.DoesNotExist, ValidationError):
            raise CommandError(f"No run with id {options['run_id']}.") from None
        try:
            artifact = ModelArtifact.objects.get_by_name(options["model"])
        except ModelArtifact.DoesNotExist:
            if not options["create_model"]:
                raise CommandError(
                    f"No model named {options['model']!r}; pass --create-model to create it."
                ) from None
            try:
                artifact = ModelArtifact.objects.create_artifact(name=options["model"])
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
        progress = TerminalProgress()
        try:
            version, created = ModelVersion.objects.promote(
                artifact,
                run,
                version=options["version"],
                tags=options["tags"],
                force=options["force"],
                progress=progress,
            )
        except RegistryError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from None
        finally:
            progress.close()
        self.stdout.write(
            f"{'Promoted' if created else 'Already promoted'} {artifact.name}:{version.version}\n"
            f"digest  sha256:{version.sha256}\n"
            f"size    {version.size_bytes} bytes in {version.file_count} files\n"
            f"new     {'yes' if created else 'no (same run, same content)'}"
        )
