from pathlib import Path

import factory
import numpy as np

from registry.models import ModelArtifact
from runs.checkpoints import lora_adapter_config, write_full_model, write_lora_adapter
from runs.tests.factories import TunixRunFactory


class ModelArtifactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelArtifact

    name = factory.Sequence(lambda n: f"Gemma3-1B Tunix SFT {n}")
    repo_id = factory.Sequence(lambda n: f"acme/gemma3-1b-sft-{n}")
    description = "Supervised fine-tunes of Gemma 3 1B."
    task_type = "causal-lm"


def write_lora(directory: Path, *, seed: int = 0, rank: int = 4) -> Path:
    """Write a small real PEFT LoRA adapter into `directory`."""
    rng = np.random.default_rng(seed)
    write_lora_adapter(
        directory,
        config=lora_adapter_config(
            base_model="google/gemma-3-1b-it", rank=rank, alpha=8, target_modules=["q_proj"]
        ),
        weights={
            "base_model.model.q_proj.lora_A.weight": rng.normal(size=(rank, 16)).astype(np.float32),
            "base_model.model.q_proj.lora_B.weight": rng.normal(size=(16, rank)).astype(np.float32),
        },
    )
    return directory


def write_full(directory: Path, *, seed: int = 0) -> Path:
    """Write a small real full-model checkpoint (config.json + model.safetensors)."""
    rng = np.random.default_rng(seed)
    write_full_model(
        directory,
        config={"model_type": "gemma3_text", "hidden_size": 16},
        weights={"model.embed_tokens.weight": rng.normal(size=(32, 16)).astype(np.float32)},
    )
    return directory


def promotable_run(*, layout: str = "lora", seed: int = 0, **run_fields):
    """Create a completed run whose output directory holds a promotable model."""
    run = TunixRunFactory(completed=True, **run_fields)
    writer = write_lora if layout == "lora" else write_full
    writer(Path(run.output_dir), seed=seed)
    return run
