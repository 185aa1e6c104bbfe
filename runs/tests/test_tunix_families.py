"""Both model families Tunix loads here: the PEFT mapping matches Tunix's own merged exporter."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from runs.execution import run_training
from runs.tunix.families import GEMMA3, QWEN3, family_for
from runs.tunix.tiny import write_tiny_gemma3, write_tiny_qwen3

pytestmark = pytest.mark.slow
ALL_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RANK, ALPHA = 4, 8.0


def lora_model(family, base, *, seed: int):
    """The base with fresh LoRA layers on every target module."""
    from runs.tunix.adapters import apply_lora
    from runs.tunix.families import load_base_model

    return apply_lora(
        load_base_model(base, family),
        family,
        rank=RANK,
        alpha=ALPHA,
        target_modules=ALL_MODULES,
        seed=seed,
    )


def lora_model_with_random_b(family, base):
    """A LoRA model whose B factors are random too (Qwix starts them at zero)."""
    from runs.tunix.adapters import lora_pairs

    model = lora_model(family, base, seed=3)
    rng = np.random.default_rng(5)
    for _, lora_b in lora_pairs(model).values():
        shape = lora_b.get_value().shape
        lora_b.set_value(rng.normal(0, 0.1, shape).astype(np.float32))
    return model


def merged_by_tunix(family, base, model, directory):
    if family is GEMMA3:
        from tunix.models.gemma3.params import save_lora_merged_model_as_safetensors
    else:
        from tunix.models.qwen3.params import save_lora_merged_model_as_safetensors
    save_lora_merged_model_as_safetensors(str(base), str(directory), model, rank=RANK, alpha=ALPHA)
    return load_file(str(directory / "model.safetensors"))


@pytest.mark.parametrize(
    ("family", "write"), [(QWEN3, write_tiny_qwen3), (GEMMA3, write_tiny_gemma3)]
)
def test_the_peft_adapter_applied_to_the_base_equals_tunix_merged_weights(family, write, tmp_path):
    from runs.tunix.adapters import peft_weights

    base = write(tmp_path / "base")
    model = lora_model_with_random_b(family, base)

    adapter = peft_weights(model, family)
    merged = merged_by_tunix(family, base, model, tmp_path / "merged")

    base_weights = load_file(str(base / "model.safetensors"))
    modules = {n.removesuffix(".lora_A.weight") for n in adapter if n.endswith(".lora_A.weight")}
    assert len(modules) == 2 * 7
    for module in modules:
        name = module.removeprefix("base_model.model.")
        delta = adapter[f"{module}.lora_B.weight"] @ adapter[f"{module}.lora_A.weight"]
        np.testing.assert_allclose(
            merged[f"{name}.weight"],
            base_weights[f"{name}.weight"] + delta * ALPHA / RANK,
            atol=1e-5,
        )


@pytest.mark.parametrize(
    ("family", "write"), [(QWEN3, write_tiny_qwen3), (GEMMA3, write_tiny_gemma3)]
)
def test_loading_an_exported_adapter_restores_every_lora_factor(family, write, tmp_path):
    from runs.tunix.adapters import load_peft_weights, lora_pairs, peft_weights

    base = write(tmp_path / "base")
    trained = lora_model_with_random_b(family, base)
    fresh = lora_model(family, base, seed=9)

    load_peft_weights(fresh, family, peft_weights(trained, family))

    expected, got = lora_pairs(trained), lora_pairs(fresh)
    for path, factors in expected.items():
        for want, have in zip(factors, got[path], strict=True):
            np.testing.assert_array_equal(
                np.asarray(have.get_value()), np.asarray(want.get_value())
            )


def test_config_json_picks_the_family(tmp_path):
    assert family_for(write_tiny_qwen3(tmp_path / "q")) is QWEN3
    assert family_for(write_tiny_gemma3(tmp_path / "g")) is GEMMA3


def write_word_tokenizer(base, dataset) -> None:
    """Give a base checkpoint a tokenizer.json: a word-level vocabulary of the dataset's words."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = sorted({w for line in dataset.read_text().splitlines() for w in line.split()})
    vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2, "[UNK]": 3} | {
        w: i for i, w in enumerate(words, start=4)
    }
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.save(str(base / "tokenizer.json"))


def test_a_gemma3_base_with_its_own_tokenizer_trains_and_exports_adapter_and_merged_model(
    tunix_inputs, tmp_path
):
    base = write_tiny_gemma3(tmp_path / "gemma3")
    write_word_tokenizer(base, tunix_inputs[1])
    config = {
        "base_model": str(base),
        "dataset": str(tunix_inputs[1]),
        "steps": 8,
        "eval_interval": 4,
        "target_modules": ["q_proj", "v_proj"],
        "export_merged": True,
    }

    final = run_training(
        "runs.trainers.tunix_lora_sft",
        config,
        tmp_path / "out",
        allowed_trainers=["runs.trainers.tunix_lora_sft"],
    )

    output = tmp_path / "out"
    adapter = json.loads((output / "final_model" / "adapter_config.json").read_text())
    assert np.isfinite(final["loss"]) and final["steps"] == 8
    assert adapter["target_modules"] == ["k_proj", "q_proj", "v_proj"]
    assert "tokenizer.json tokenizer" in (output / "run.log").read_text()
    assert (output / "final_model" / "tokenizer.json").is_file()
    assert (output / "merged_model" / "model.safetensors").is_file()
