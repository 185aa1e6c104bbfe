"""Write model outputs in the Hugging Face layouts the registry promotes.

Two layouts: a PEFT LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`) and a full
model (`config.json` + `model.safetensors`). Both are what `save_pretrained` writes, so tools that
load Hugging Face checkpoints read them.
"""

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file


def lora_adapter_config(
    *, base_model: str, rank: int, alpha: float, target_modules: list[str]
) -> dict:
    """Return a PEFT `adapter_config.json` for a LoRA adapter of `rank` on `target_modules`."""
    return {
        "base_model_name_or_path": base_model,
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": rank,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "target_modules": target_modules,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "modules_to_save": None,
        "revision": None,
    }


def write_json(path: Path, data: dict) -> None:
    """Write `data` as stable JSON: sorted keys, so equal data gives equal bytes."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_lora_adapter(directory: Path, *, config: dict, weights: dict[str, np.ndarray]) -> None:
    """Write a PEFT LoRA adapter into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / "adapter_config.json", config)
    save_file(
        {name: np.ascontiguousarray(array) for name, array in weights.items()},
        str(directory / "adapter_model.safetensors"),
        metadata={"format": "pt"},
    )


def write_full_model(directory: Path, *, config: dict, weights: dict[str, np.ndarray]) -> None:
    """Write a full model checkpoint (`config.json` + `model.safetensors`) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / "config.json", config)
    save_file(
        {name: np.ascontiguousarray(array) for name, array in weights.items()},
        str(directory / "model.safetensors"),
        metadata={"format": "pt"},
    )
