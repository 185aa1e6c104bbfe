from django.core.management.base import BaseCommand
from django.template.defaultfilters import filesizeformat

from registry.models import ModelArtifact, ModelVersion


class Command(BaseCommand):
    help = (
        "Apply each model's retention policy, then remove blobs and manifests no ready version "
        "references and stale temporary files. Safe while promotions run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be removed; change nothing."
        )
        parser.add_argument(
            "--grace-seconds",
            type=int,
            default=None,
            help="Keep anything younger than this (default: REGISTRY_GC_GRACE_SECONDS).",
        )

    def handle(self, *args, **options):
        dry_run = options["dry_run"]
        if not dry_run:
            for artifact in ModelArtifact.objects.under_retention():
                for version in ModelVersion.objects.apply_retention(artifact):
                    self.stdout.write(
                        f"Archived {version} (retention: keep last {artifact.keep_last_versions})"
                    )
        report = ModelVersion.objects.collect_garbage(
            dry_run=dry_run, grace_seconds=options["grace_seconds"]
        )
        verb = "Would remove" if dry_run else "Removed"
        for path in [*report.blobs, *report.manifests, *report.temporary]:
            self.stdout.write(f"{verb} {path}")
        self.stdout.write(
            f"{verb} {len(report.blobs)} blobs, {len(report.manifests)} manifests and "
            f"{len(report.temporary)} temporary files ({filesizeformat(report.bytes_freed)}); "
            f"kept {report.kept_young} unreferenced files younger than the grace period."
        )
