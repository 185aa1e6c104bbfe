"""LoRA weights between Tunix models and PEFT adapters (`adapter_model.safetensors`).

Tunix trains LoRA through Qwix, whose `lora_a`/`lora_b` live on Tunix's layers in JAX's
orientation (`x @ a @ b`, heads split out). PEFT stores, per Hugging Face module,
`lora_A.weight` (rank, in) and `lora_B.weight` (out, rank) with `x @ A.T @ B.T`. The mapping
follows Tunix's own merged-weights exporter (`save_lora_merged_model_as_safetensors`), so the
adapter applied to the base gives exactly the weights that exporter writes. Imports JAX.
"""

import re
from pathlib import Path

import numpy as np
from flax import nnx

from runs.checkpoints import lora_adapter_config, write_lora_adapter
from runs.tunix.families import GEMMA3, QWEN3, ModelFamily

PEFT_PREFIX = "base_model.model."


def hf_module_name(family: ModelFamily, tunix_path: str) -> str:
    """Return the Hugging Face module name (`model.layers.0.self_attn.q_proj`) of a Tunix layer."""
    if family is QWEN3:
        from tunix.models.qwen3.params import _qwen3_state_key_to_safetensors_key as to_key
    else:
        from tunix.models.gemma3.params import _gemma3_state_key_to_safetensors_key as to_key
    return to_key(tunix_path).removesuffix(".weight")


def lora_pairs(model) -> dict[str, list]:
    """Return {Tunix layer path: [lora_a, lora_b]} for every LoRA layer of `model`."""
    pairs: dict[str, list] = {}
    for path, value in nnx.iter_graph(model):
        if isinstance(value, nnx.LoRAParam):
            pairs.setdefault(".".join(str(p) for p in path[:-1]), []).append(value)
    return pairs


def as_matrix(array, *, keep_last: bool) -> np.ndarray:
    """Flatten a LoRA factor to 2-D as Tunix's exporter does: heads merged into the features."""
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 3:
        return array
    return array.reshape(-1, array.shape[-1]) if keep_last else array.reshape(array.shape[0], -1)


def peft_weights(model, family: ModelFamily) -> dict[str, np.ndarray]:
    """Return the model's LoRA weights under PEFT's tensor names and shapes."""
    weights = {}
    for path, (lora_a, lora_b) in lora_pairs(model).items():
        a, b = lora_a.get_value(), lora_b.get_value()
        if family is GEMMA3 and path.endswith("kv_einsum"):
            split = {"k_einsum": np.asarray(b)[:, 0], "v_einsum": np.asarray(b)[:, 1]}
            parts = [(path.replace("kv_einsum", name), a, half) for name, half in split.items()]
        else:
            parts = [(path, a, b)]
        for tunix_path, a_part, b_part in parts:
            module = PEFT_PREFIX + hf_module_name(family, tunix_path)
            weights[f"{module}.lora_A.weight"] = np.ascontiguousarray(
                as_matrix(a_part, keep_last=True).T
            )
            weights[f"{module}.lora_B.weight"] = np.ascontiguousarray(
                as_matrix(b_part, keep_last=False).T
            )
    return weights


def save_peft_adapter(
    model,
    family: ModelFamily,
    directory: Path,
    *,
    base_model: str,
    rank: int,
    alpha: float,
    target_modules: list[str],
) -> None:
    """Write the model's LoRA weights as a PEFT adapter that `PeftModel.from_pretrained` loads."""
    if family is GEMMA3 and {"k_proj", "v_proj"} & set(target_modules):
        target_modules = sorted({*target_modules, "k_proj", "v_proj"})
    write_lora_adapter(
        directory,
        config=lora_adapter_config(
            base_model=base_model, rank=rank, alpha=alpha, target_modules=sorted(target_modules)
        ),
        weights=peft_weights(model, family),
    )


def load_peft_weights(model, family: ModelFamily, weights: dict[str, np.ndarray]) -> None:
    """Set a LoRA-applied Tunix model's `lora_a`/`lora_b` from PEFT tensors (the inverse)."""
    for path, (lora_a, lora_b) in lora_pairs(model).items():
        if family is GEMMA3 and path.endswith("kv_einsum"):
            names = [path.replace("kv_einsum", n) for n in ("k_einsum", "v_einsum")]
        else:
            names = [path]
        modules = [PEFT_PREFIX + hf_module_name(family, name) for name in names]
        a = weights[f"{modules[0]}.lora_A.weight"].T
        b_shape = lora_b.get_value().shape
        halves = [
            weights[f"{m}.lora_B.weight"].T.reshape((b_shape[0], *b_shape[-2:]))
            if len(names) > 1
            else weights[f"{m}.lora_B.weight"].T.reshape(b_shape)
            for m in modules
        ]
        b = np.stack(halves, axis=1) if len(names) > 1 else halves[0]
        lora_a.set_value(a.reshape(lora_a.get_value().shape).astype(lora_a.get_value().dtype))
        lora_b.set_value(b.astype(lora_b.get_value().dtype))


def apply_lora(model, family: ModelFamily, *, rank: int, alpha: float, target_modules, seed: int):
    """Return `model` with Qwix LoRA layers of `rank` on `target_modules` (initialised by seed)."""
    import qwix

    provider = qwix.LoraProvider(
        module_path=family.module_path(list(target_modules)), rank=rank, alpha=float(alpha)
    )
    return qwix.apply_lora_to_model(model, provider, rngs=nnx.Rngs(seed), **model.get_model_input())


def load_adapter(base_model_dir: Path, adapter_dir: Path, family: ModelFamily):
    """Return the base model with the PEFT adapter in `adapter_dir` applied: for evaluation."""
    import json

    from safetensors.numpy import load_file

    from runs.tunix.families import load_base_model

    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    targets = sorted({re.sub(r".*\.", "", k.split(".lora_")[0]) for k in weights})
    model = apply_lora(
        load_base_model(base_model_dir, family),
        family,
        rank=config["r"],
        alpha=config["lora_alpha"],
        target_modules=targets,
        seed=0,
    )
    load_peft_weights(model, family, weights)
    return model
