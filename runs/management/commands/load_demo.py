from django.conf import settings
from django.core.management.base import BaseCommand

from runs.models import TunixRun


class Command(BaseCommand):
    help = "Create the demo runs (LoRA adapters, a full model, a failed run); safe to run again."

    def handle(self, *args, **options):
        created, kept = TunixRun.objects.ensure_demo_runs(settings.RUNS_ROOT / "demo")
        self.stdout.write(f"Demo runs: {created} created, {kept} already present.")
