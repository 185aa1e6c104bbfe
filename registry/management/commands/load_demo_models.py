from django.core.management import call_command
from django.core.management.base import BaseCommand

from registry.models import ModelAlias, ModelArtifact, ModelVersion
from runs.demo import DEMO_RUNS
from runs.models import TunixRun

DEMO_MODELS = {
    "Gemma3-1B Tunix SFT": {
        "description": "LoRA adapters for Gemma 3 1B, supervised fine-tuning on demo instructions.",
        "task_type": "causal-lm",
        "runs": ["gemma3-1b-lora-sft-lr1e-4", "gemma3-1b-lora-sft-lr3e-4"],
    },
    "Tiny Gemma Full SFT": {
        "description": "A tiny full-model fine-tune, in the Hugging Face layout.",
        "task_type": "causal-lm",
        "runs": ["tiny-gemma-full-sft"],
    },
}


class Command(BaseCommand):
    help = "Promote the demo runs into demo models with a gated production alias; safe to rerun."

    def handle(self, *args, **options):
        call_command("load_demo", stdout=self.stdout)
        ids = {spec.slug: spec.id for spec in DEMO_RUNS}
        created = 0
        for name, spec in DEMO_MODELS.items():
            artifact = ModelArtifact.objects.get_or_create_artifact(
                name=name, description=spec["description"], task_type=spec["task_type"]
            )
            for slug in spec["runs"]:
                run = TunixRun.objects.get(pk=ids[slug])
                if artifact.versions.filter(source_run=run).exists():
                    continue  # already promoted: keep the audit trail free of demo repeats
                ModelVersion.objects.promote(artifact, run, tags=["demo"])
                created += 1
        gemma = ModelArtifact.objects.get_by_name("Gemma3-1B Tunix SFT")
        ModelAlias.objects.set_gates(
            gemma,
            "production",
            requirements=[{"metric": "eval_loss", "op": "<=", "value": 0.6}],
            requires_completed_eval=True,
            reason="demo launch bar",
        )
        best = ModelVersion.objects.search(artifact=gemma, metric="eval_loss", order="metric")[0]
        ModelAlias.objects.point(gemma, "production", best, reason="lowest eval_loss")
        self.stdout.write(
            f"Demo models: {created} versions promoted, production -> {best.version}."
        )
