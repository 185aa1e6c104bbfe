from django.core.management.base import BaseCommand, CommandError

from registry.exceptions import RegistryError
from registry.models import ModelAlias, ModelArtifact


class Command(BaseCommand):
    help = "Point a model's alias (such as production) at one of its versions, through its gates."

    def add_arguments(self, parser):
        parser.add_argument("model", help="The model's name (any case).")
        parser.add_argument("alias", help="The alias, such as production.")
        parser.add_argument("version", help="The version's label, such as v3.")
        parser.add_argument("--reason", default="", help="Recorded in the alias history.")

    def handle(self, *args, **options):
        try:
            artifact = ModelArtifact.objects.get_by_name(options["model"])
        except ModelArtifact.DoesNotExist:
            raise CommandError(f"No model named {options['model']!r}.") from None
        version = artifact.versions.filter(version=options["version"]).first()
        if version is None:
            raise CommandError(f"{artifact.name} has no version {options['version']!r}.")
        previous = ModelAlias.objects.filter(artifact=artifact, name=options["alias"]).first()
        try:
            alias = ModelAlias.objects.point(
                artifact, options["alias"], version, reason=options["reason"]
            )
        except RegistryError as exc:
            raise CommandError(f"{exc.message} [{exc.code}]") from None
        before = previous.version.version if previous and previous.version_id else "(unset)"
        self.stdout.write(f"{artifact.name}@{alias.name}: {before} -> {version.version}")
