"""Logits of Tunix models for the Tunix tests: the trained model (restored from its final Orbax
step, Tunix's own record of it) and a fresh base with a PEFT adapter applied. Imports JAX."""

from pathlib import Path

import numpy as np

from runs.tunix.adapters import apply_lora, load_adapter
from runs.tunix.data import ByteTokenizer
from runs.tunix.families import QWEN3, load_base_model
from runs.tunix.training import model_inputs

PROBE = "Q: what does the registry do? A: the registry promotes a version."


def probe_tokens() -> np.ndarray:
    """Return a batch of one tokenized probe sentence."""
    tokenizer = ByteTokenizer()
    return np.array([[tokenizer.bos_id, *tokenizer.encode(PROBE)]], dtype=np.int32)


def logits_of(model) -> np.ndarray:
    """Return the model's logits for the probe."""
    from tunix.sft.peft_trainer import TrainingInput

    tokens = probe_tokens()
    inputs = model_inputs(ByteTokenizer.pad_id)(
        TrainingInput(input_tokens=tokens, input_mask=np.ones_like(tokens, dtype=bool))
    )
    logits, _ = model(inputs["input_tokens"], inputs["positions"], None, inputs["attention_mask"])
    return np.asarray(logits)


def trained_logits(base: Path, checkpoints: Path, *, rank: int, alpha: float, targets):
    """Return the logits of the model as Tunix saved it at its latest Orbax step."""
    from tunix.sft.checkpoint_manager import CheckpointManager

    model = apply_lora(
        load_base_model(base, QWEN3), QWEN3, rank=rank, alpha=alpha, target_modules=targets, seed=99
    )
    step, _ = CheckpointManager(str(checkpoints)).maybe_restore(
        model, restore_only_lora_params=True
    )
    assert step > 0, f"no Orbax step restored from {checkpoints}"
    return logits_of(model)


def adapter_logits(base: Path, adapter: Path) -> np.ndarray:
    """Return the logits of the base model with the PEFT adapter in `adapter` applied."""
    return logits_of(load_adapter(base, adapter, QWEN3))
