"""Tiny Qwen3 and Gemma 3 base models and a small SFT dataset, generated locally: no download.

The models are randomly initialised but real: Hugging Face checkpoints (`config.json` +
`model.safetensors`) that Tunix's loaders (and, for Qwen3, `transformers`) read. Their tokenizer
is the byte-level one of `runs.tunix.data` (vocabulary 264: 8 special ids, then the 256 bytes).
Everything is deterministic, so writing twice gives the same bytes.
"""

import json
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from runs.tunix.data import BYTE_VOCAB_SIZE

TINY_QWEN3_CONFIG = {
    "architectures": ["Qwen3ForCausalLM"],
    "model_type": "qwen3",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": BYTE_VOCAB_SIZE,
    "max_position_embeddings": 512,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "hidden_act": "silu",
    "attention_bias": False,
    "attention_dropout": 0.0,
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
    "torch_dtype": "float32",
}

TINY_GEMMA3_CONFIG = {
    "architectures": ["Gemma3ForCausalLM"],
    "model_type": "gemma3_text",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": BYTE_VOCAB_SIZE,
    "max_position_embeddings": 512,
    "sliding_window": 32,
    "rope_local_base_freq": 10000.0,
    "rope_theta": 1000000.0,
    "query_pre_attn_scalar": 16,
    "rms_norm_eps": 1e-6,
    "hidden_activation": "gelu_pytorch_tanh",
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
    "torch_dtype": "float32",
}

SUBJECTS = ["the registry", "a LoRA adapter", "the worker", "Tunix", "a curator", "the alias"]
VERBS = ["promotes", "stores", "verifies", "trains", "downloads", "blesses"]
OBJECTS = ["a version", "the digest", "every byte", "the checkpoint", "the run", "production"]


def tiny_qwen3_weights(*, seed: int = 0) -> dict[str, np.ndarray]:
    """Return scaled random weights for the tiny Qwen3, named as Hugging Face names them."""
    # Qwen3(config, rngs) would start its MLP kernels at zero, which trains poorly: write our own.
    cfg = TINY_QWEN3_CONFIG
    rng = np.random.default_rng(seed)
    embed, mlp, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    heads, kv_heads, head_dim = (
        cfg["num_attention_heads"],
        cfg["num_key_value_heads"],
        cfg["head_dim"],
    )

    def dense(rows: int, cols: int) -> np.ndarray:
        return rng.normal(0, 1 / math.sqrt(cols), (rows, cols)).astype(np.float32)

    def ones(size: int) -> np.ndarray:
        return np.ones(size, dtype=np.float32)

    weights = {
        "model.embed_tokens.weight": rng.normal(0, 1.0, (cfg["vocab_size"], embed)).astype(
            np.float32
        ),
        "model.norm.weight": ones(embed),
        "lm_head.weight": dense(cfg["vocab_size"], embed),
    }
    for layer in range(layers):
        prefix = f"model.layers.{layer}"
        weights |= {
            f"{prefix}.self_attn.q_proj.weight": dense(heads * head_dim, embed),
            f"{prefix}.self_attn.k_proj.weight": dense(kv_heads * head_dim, embed),
            f"{prefix}.self_attn.v_proj.weight": dense(kv_heads * head_dim, embed),
            f"{prefix}.self_attn.o_proj.weight": dense(embed, heads * head_dim),
            f"{prefix}.self_attn.q_norm.weight": ones(head_dim),
            f"{prefix}.self_attn.k_norm.weight": ones(head_dim),
            f"{prefix}.mlp.gate_proj.weight": dense(mlp, embed),
            f"{prefix}.mlp.up_proj.weight": dense(mlp, embed),
            f"{prefix}.mlp.down_proj.weight": dense(embed, mlp),
            f"{prefix}.input_layernorm.weight": ones(embed),
            f"{prefix}.post_attention_layernorm.weight": ones(embed),
        }
    return weights


def tiny_gemma3_weights(*, seed: int = 0) -> dict[str, np.ndarray]:
    """Return scaled random weights for the tiny Gemma 3 (norm scales start at zero: 1 + w)."""
    rng = np.random.default_rng(seed)
    qwen = tiny_qwen3_weights(seed=seed)
    weights = {k: v for k, v in qwen.items() if k != "lm_head.weight"}  # Gemma ties embeddings
    for name in weights:
        if name.endswith("norm.weight"):
            weights[name] = np.zeros_like(weights[name])
    for layer in range(TINY_GEMMA3_CONFIG["num_hidden_layers"]):
        for norm in ("pre_feedforward_layernorm", "post_feedforward_layernorm"):
            weights[f"model.layers.{layer}.{norm}.weight"] = np.zeros(
                TINY_GEMMA3_CONFIG["hidden_size"], dtype=np.float32
            )
    weights["model.embed_tokens.weight"] = rng.normal(
        0, 1.0, weights["model.embed_tokens.weight"].shape
    ).astype(np.float32)
    return weights


def write_checkpoint(directory: Path, config: dict, weights: dict[str, np.ndarray]) -> Path:
    """Write a Hugging Face checkpoint (`config.json` + `model.safetensors`) and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(
        json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    save_file(weights, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


def write_tiny_qwen3(directory: Path, *, seed: int = 0) -> Path:
    """Write the tiny Qwen3 checkpoint into `directory` and return it."""
    return write_checkpoint(directory, TINY_QWEN3_CONFIG, tiny_qwen3_weights(seed=seed))


def write_tiny_gemma3(directory: Path, *, seed: int = 0) -> Path:
    """Write the tiny Gemma 3 checkpoint into `directory` and return it."""
    return write_checkpoint(directory, TINY_GEMMA3_CONFIG, tiny_gemma3_weights(seed=seed))


def write_tiny_dataset(path: Path, *, examples: int = 512, seed: int = 0) -> Path:
    """Write a JSONL SFT dataset of short prompt/completion pairs with a learnable pattern."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for _ in range(examples):
        subject, verb, obj = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)
        prompt = f"Q: what does {subject} do? A:"
        completion = f" {subject} {verb} {obj}."
        lines.append(json.dumps({"prompt": prompt, "completion": completion}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
