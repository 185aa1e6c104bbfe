"""Demo data: inputs for a real Tunix run, and synthetic runs in every promotable layout.

The tiny Qwen3 base model and SFT dataset (`runs.tunix.tiny`) let a newcomer launch a real Tunix
LoRA SFT run that completes in well under a minute on two cores. The demo *runs* below are not
trained: their weights are random numbers in the right layouts (a PEFT LoRA adapter, a full model,
a failed run), for trying promotion, downloads and aliases at once; their config says so.
Each has a fixed id and deterministic files, so loading twice changes nothing and promoting a
demo run twice yields the same digest.
"""

import uuid
from dataclasses import dataclass, field
from pathlib import Path

DEMO_NAMESPACE = uuid.UUID("6f1d2c1e-5b7a-4a51-9a55-7d0f3f0c9e11")
SYNTHETIC = "synthetic demo weights: random numbers in the layout, not trained"
TUNIX_DEMO_DIRNAME = "demo"
TINY_MODEL_DIRNAME = "tiny-qwen3"
TINY_DATASET_NAME = "tiny-sft.jsonl"
BASE_MODEL = "google/gemma-3-1b-it"
HIDDEN = 64
LAYERS = 2


@dataclass(frozen=True)
class DemoRun:
    slug: str
    layout: str  # "lora", "full" or "none"
    status: str
    metrics: dict
    config: dict
    eval_status: str = "completed"
    rank: int = 8
    seed: int = 0
    error: str = ""
    dataset_id: str = "tunix/demo-instructions"
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(DEMO_NAMESPACE, self.slug)


DEMO_RUNS = [
    DemoRun(
        slug="gemma3-1b-lora-sft-lr1e-4",
        layout="lora",
        status="completed",
        config={
            "trainer": "synthetic",
            "note": SYNTHETIC,
            "learning_rate": 1e-4,
            "rank": 8,
            "alpha": 16,
            "steps": 500,
        },
        metrics={"loss": 0.612, "eval_loss": 0.655, "eval_accuracy": 0.702},
        seed=1,
    ),
    DemoRun(
        slug="gemma3-1b-lora-sft-lr3e-4",
        layout="lora",
        status="completed",
        config={
            "trainer": "synthetic",
            "note": SYNTHETIC,
            "learning_rate": 3e-4,
            "rank": 8,
            "alpha": 16,
            "steps": 500,
        },
        metrics={"loss": 0.431, "eval_loss": 0.498, "eval_accuracy": 0.748},
        seed=2,
    ),
    DemoRun(
        slug="tiny-gemma-full-sft",
        layout="full",
        status="completed",
        config={
            "trainer": "synthetic",
            "note": SYNTHETIC,
            "learning_rate": 2e-5,
            "steps": 200,
            "full_finetune": True,
        },
        metrics={"loss": 0.873, "eval_loss": 0.912, "eval_accuracy": 0.611},
        seed=3,
    ),
    DemoRun(
        slug="gemma3-1b-lora-sft-lr1e-2-diverged",
        layout="lora",
        status="failed",
        config={
            "trainer": "synthetic",
            "note": SYNTHETIC,
            "learning_rate": 1e-2,
            "rank": 8,
            "alpha": 16,
            "steps": 500,
        },
        metrics={"loss": 7.91},
        eval_status="none",
        error="Loss became NaN at step 143; training stopped.",
        seed=4,
    ),
]


def lora_weights(*, rank: int, seed: int) -> dict:
    """Return LoRA A/B matrices for q_proj and v_proj of each layer, named as PEFT names them."""
    import numpy as np  # numpy stays off Django's start-up path: the forms import this module

    rng = np.random.default_rng(seed)
    weights = {}
    for layer in range(LAYERS):
        for module in ("q_proj", "v_proj"):
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            weights[f"{prefix}.lora_A.weight"] = rng.normal(0, 0.02, (rank, HIDDEN)).astype(
                np.float32
            )
            weights[f"{prefix}.lora_B.weight"] = rng.normal(0, 0.02, (HIDDEN, rank)).astype(
                np.float32
            )
    return weights


def full_model_weights(*, seed: int, vocab: int = 256) -> dict:
    """Return the weights of a tiny Gemma-shaped decoder."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = {"model.embed_tokens.weight": rng.normal(0, 0.02, (vocab, HIDDEN)).astype(np.float32)}
    for layer in range(LAYERS):
        prefix = f"model.layers.{layer}"
        for module in ("q_proj", "k_proj", "v_proj", "o_proj"):
            weights[f"{prefix}.self_attn.{module}.weight"] = rng.normal(
                0, 0.02, (HIDDEN, HIDDEN)
            ).astype(np.float32)
        weights[f"{prefix}.input_layernorm.weight"] = np.ones(HIDDEN, dtype=np.float32)
    weights["model.norm.weight"] = np.ones(HIDDEN, dtype=np.float32)
    return weights


def write_outputs(demo: DemoRun, directory: Path) -> None:
    """Write the demo run's checkpoint files into `directory`."""
    from runs.checkpoints import (
        lora_adapter_config,
        write_full_model,
        write_json,
        write_lora_adapter,
    )

    if demo.layout == "lora":
        config = lora_adapter_config(
            base_model=BASE_MODEL, rank=demo.rank, alpha=16, target_modules=["q_proj", "v_proj"]
        )
        write_lora_adapter(
            directory, config=config, weights=lora_weights(rank=demo.rank, seed=demo.seed)
        )
    elif demo.layout == "full":
        config = {
            "architectures": ["Gemma3ForCausalLM"],
            "model_type": "gemma3_text",
            "hidden_size": HIDDEN,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": 4,
            "vocab_size": 256,
            "torch_dtype": "float32",
        }
        write_full_model(directory, config=config, weights=full_model_weights(seed=demo.seed))
    write_json(directory / "training_args.json", demo.config)


def tunix_demo_inputs(root: Path) -> tuple[Path, Path]:
    """Return where the tiny base model and dataset live under an input root."""
    return (
        root / TUNIX_DEMO_DIRNAME / TINY_MODEL_DIRNAME,
        root / TUNIX_DEMO_DIRNAME / TINY_DATASET_NAME,
    )


def write_tunix_demo_inputs(root: Path) -> tuple[Path, Path, bool]:
    """Write the tiny base model and dataset under `root` unless present; return them."""
    from runs.tunix.tiny import write_tiny_dataset, write_tiny_qwen3

    model, dataset = tunix_demo_inputs(root)
    missing = not (model / "model.safetensors").is_file() or not dataset.is_file()
    if missing:
        write_tiny_qwen3(model)
        write_tiny_dataset(dataset)
    return model, dataset, missing
