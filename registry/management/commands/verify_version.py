from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError

from registry.models import ModelVersion
from registry.progress import TerminalProgress


class Command(BaseCommand):
    # Only the model checks: the full set imports the whole URL configuration and the API schema
    # generator, more than half a second before any work (`manage.py check` runs them all).
    requires_system_checks = [Tags.models]
    help = "Re-hash stored blobs against each version's manifest; exit non-zero on any problem."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("version_id", nargs="?", type=int, help="The version's id.")
        target.add_argument("--all", action="store_true", help="Verify every ready version.")

    def handle(self, *args, **options):
        if options["all"]:
            versions = ModelVersion.objects.ready().select_related("artifact").order_by("id")
        else:
            versions = ModelVersion.objects.filter(pk=options["version_id"]).select_related(
                "artifact"
            )
            if not versions:
                raise CommandError(f"No version with id {options['version_id']}.")
        problems = 0
        progress = TerminalProgress()
        try:
            for version in versions:
                checks = version.verify(progress=progress)
                bad = [c for c in checks if not c.ok]
                problems += len(bad)
                state = "ok" if not bad else f"{len(bad)} PROBLEM(S)"
                self.stdout.write(f"{version} ({len(checks)} files): {state}")
                for check in bad:
                    actual = f", found {check.actual}" if check.actual else ""
                    self.stdout.write(
                        f"  {check.status}: {check.path} (expected {check.expected}{actual})"
                    )
        finally:
            progress.close()
        if problems:
            raise CommandError(f"{problems} file(s) missing or corrupt.")
