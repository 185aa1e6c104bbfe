"""The model families the Tunix trainer loads, told apart by a checkpoint's `config.json`.

Each family names Tunix's own loader and the Hugging Face modules LoRA can target. Nothing here
imports JAX at module level: the trainer validates configs in Django processes, and only the
child process calls `load_base_model`.
"""

import json
from dataclasses import dataclass
from pathlib import Path

HF_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class BaseModelError(ValueError):
    """A base checkpoint the trainer cannot load; the message says why."""


@dataclass(frozen=True)
class ModelFamily:
    """A family of models Tunix has a safetensors loader for."""

    name: str
    model_types: tuple[str, ...]
    # Hugging Face module name -> the name of Tunix's layer that holds it.
    tunix_modules: dict[str, str]

    def module_path(self, target_modules: list[str]) -> str:
        """Return Qwix's `module_path` regex for LoRA on `target_modules`."""
        names = sorted({self.tunix_modules[name] for name in target_modules})
        return ".*(" + "|".join(names) + ")$"


QWEN3 = ModelFamily(
    name="qwen3",
    model_types=("qwen3",),
    tunix_modules={name: name for name in HF_TARGET_MODULES},
)
GEMMA3 = ModelFamily(
    name="gemma3",
    model_types=("gemma3_text", "gemma3"),
    tunix_modules={
        "q_proj": "q_einsum",
        # Tunix keeps Gemma's keys and values in one einsum: LoRA on either adapts both.
        "k_proj": "kv_einsum",
        "v_proj": "kv_einsum",
        "o_proj": "attn_vec_einsum",
        "gate_proj": "gate_proj",
        "up_proj": "up_proj",
        "down_proj": "down_proj",
    },
)
FAMILIES = {family.name: family for family in (QWEN3, GEMMA3)}


def read_model_config(base_model: Path) -> dict:
    """Return a base checkpoint's `config.json` (the text part of a multimodal Gemma 3)."""
    try:
        config = json.loads((base_model / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaseModelError(f"{base_model} has no config.json.") from None
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"{base_model}/config.json is not readable JSON ({exc}).") from None
    if not isinstance(config, dict):
        raise BaseModelError(f"{base_model}/config.json is not a JSON object.")
    text = config.get("text_config")
    return {**config, **text} if isinstance(text, dict) else config


def family_for(base_model: Path, requested: str = "auto") -> ModelFamily:
    """Return the family named by `requested`, or the one `config.json`'s model_type names."""
    if requested != "auto":
        return FAMILIES[requested]
    model_type = read_model_config(base_model).get("model_type")
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    known = ", ".join(t for f in FAMILIES.values() for t in f.model_types)
    raise BaseModelError(
        f"{base_model}/config.json has model_type {model_type!r}; Tunix LoRA SFT here loads "
        f"{known}. Set model_family if the checkpoint is one of those under another name."
    )


def weight_files(base_model: Path) -> list[Path]:
    """Return the checkpoint's safetensors files."""
    return sorted(base_model.glob("*.safetensors"))


def tunix_config(family: ModelFamily, hf: dict):
    """Build Tunix's ModelConfig for `family` from a Hugging Face config (imports Tunix)."""
    import jax.numpy as jnp

    try:
        if family is QWEN3:
            from tunix.models.qwen3 import model as qwen3

            return qwen3.ModelConfig(
                num_layers=hf["num_hidden_layers"],
                vocab_size=hf["vocab_size"],
                embed_dim=hf["hidden_size"],
                hidden_dim=hf["intermediate_size"],
                num_heads=hf["num_attention_heads"],
                head_dim=hf.get("head_dim") or hf["hidden_size"] // hf["num_attention_heads"],
                num_kv_heads=hf.get("num_key_value_heads") or hf["num_attention_heads"],
                rope_theta=int(hf.get("rope_theta", 1_000_000)),
                norm_eps=hf.get("rms_norm_eps", 1e-6),
                use_tied_embedding=bool(hf.get("tie_word_embeddings", False)),
            )
        from tunix.models.gemma3 import model as gemma3

        head_dim = hf.get("head_dim") or hf["hidden_size"] // hf["num_attention_heads"]
        norm = gemma3.QueryPreAttentionNormalisation
        scaling = hf.get("rope_scaling") or {}
        return gemma3.ModelConfig(
            num_layers=hf["num_hidden_layers"],
            num_embed=hf["vocab_size"],
            embed_dim=hf["hidden_size"],
            hidden_dim=hf["intermediate_size"],
            num_heads=hf["num_attention_heads"],
            head_dim=head_dim,
            num_kv_heads=hf.get("num_key_value_heads") or hf["num_attention_heads"],
            sliding_window_size=hf.get("sliding_window"),
            local_base_frequency=int(hf.get("rope_local_base_freq", 10_000)),
            global_base_frequency=int(hf.get("rope_theta", 1_000_000)),
            global_scale_factor=float(scaling.get("factor", 1.0)),
            query_pre_attn_norm=(
                norm.BY_ONE_OVER_SQRT_HEAD_DIM
                if hf.get("query_pre_attn_scalar", head_dim) == head_dim
                else norm.BY_ONE_OVER_SQRT_EMBED_DIM_DIV_NUM_HEADS
            ),
            param_dtype=jnp.float32,
        )
    except KeyError as exc:
        raise BaseModelError(
            f"config.json lacks {exc.args[0]!r}, which {family.name} needs."
        ) from None


def load_base_model(base_model: Path, family: ModelFamily):
    """Load the base checkpoint with Tunix's own safetensors loader (imports JAX and Tunix)."""
    config = tunix_config(family, read_model_config(base_model))
    if family is QWEN3:
        from tunix.models.qwen3 import params
    else:
        from tunix.models.gemma3 import params_safetensors as params
    import jax.numpy as jnp

    return params.create_model_from_safe_tensors(str(base_model), config, dtype=jnp.float32)
