from django.core.management.base import BaseCommand, CommandError

from registry.models import AliasChange, ModelArtifact


class Command(BaseCommand):
    help = "Print an alias's history, oldest first: when it moved, from and to what, who, why."

    def add_arguments(self, parser):
        parser.add_argument("model", help="The model's name (any case).")
        parser.add_argument("alias", help="The alias, such as production.")

    def handle(self, *args, **options):
        try:
            artifact = ModelArtifact.objects.get_by_name(options["model"])
        except ModelArtifact.DoesNotExist:
            raise CommandError(f"No model named {options['model']!r}.") from None
        changes = AliasChange.objects.of_alias(artifact, options["alias"]).oldest_first()
        if not changes:
            raise CommandError(f"{artifact.name}@{options['alias']} has no history.")
        for change in changes:
            source = change.from_version.version if change.from_version else "-"
            target = change.to_version.version if change.to_version else "-"
            who = change.actor_name or "(script)"
            why = f"  {change.reason}" if change.reason else ""
            self.stdout.write(
                f"{change.at:%Y-%m-%dT%H:%M:%SZ}  {change.kind:<11} {source:>8} -> {target:<8} "
                f"{who}{why}"
            )
