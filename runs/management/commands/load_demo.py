from django.conf import settings
from django.core.management.base import BaseCommand

from runs.demo import write_tunix_demo_inputs
from runs.models import TunixRun


class Command(BaseCommand):
    help = (
        "Create the tiny Tunix base model and dataset, and the synthetic demo runs (LoRA "
        "adapters, a full model, a failed run); safe to run again."
    )

    def handle(self, *args, **options):
        model, dataset, written = write_tunix_demo_inputs(settings.TRAINING_INPUT_ROOTS[0])
        state = "written" if written else "already present"
        self.stdout.write(f"Tunix demo inputs ({state}): base model {model}, dataset {dataset}.")
        created, kept = TunixRun.objects.ensure_demo_runs(settings.RUNS_ROOT / "demo")
        self.stdout.write(f"Demo runs: {created} created, {kept} already present.")
