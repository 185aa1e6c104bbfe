"""What a promotable model directory looks like: the layouts the registry accepts.

A LoRA adapter as PEFT writes it (`adapter_config.json` + adapter weights), or a full model as
`save_pretrained` writes it (`config.json` + weights: single-file or sharded safetensors, PyTorch
or Flax). Training scripts often write checkpoints beside a `final_model/` directory that holds the
weights to ship; when that directory is promotable, only it is promoted.

A Tunix run without such an export is promoted from its Orbax checkpoints: the latest *complete*
step under `<output>/checkpoints/<step>/` or `<output>/<step>/`. Orbax writes a step into a
`<step>.orbax-checkpoint-tmp-*` directory and marks it finished with `commit_success.txt`, so a
step without that marker (still being written, or interrupted) is never promoted.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from registry.choices import LayoutKind
from registry.exceptions import PromotionError

FINAL_MODEL_DIRNAME = "final_model"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
FULL_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "flax_model.msgpack")
# Shard index file -> (shard name prefix, suffix): shards are PREFIX00001-of-00004SUFFIX.
SHARD_FORMATS = {
    "model.safetensors.index.json": ("model-", ".safetensors"),
    "pytorch_model.bin.index.json": ("pytorch_model-", ".bin"),
}
SHARD_NUMBERS = re.compile(r"(\d{5})-of-(\d{5})")
LOOKED_FOR = (
    "adapter_config.json with adapter_model.safetensors or adapter_model.bin (a LoRA adapter), or "
    "config.json with model.safetensors, model-NNNNN-of-NNNNN.safetensors shards and their "
    "model.safetensors.index.json, pytorch_model.bin, or flax_model.msgpack (a full model)"
)
FOUND_LISTED = 8


ORBAX_COMMIT_MARKER = "commit_success.txt"
ORBAX_PARENTS = ("checkpoints", "")


@dataclass(frozen=True)
class ModelLayout:
    """A promotable directory and what it holds: `lora_adapter`, `full_model` or an Orbax step."""

    directory: Path
    kind: str
    # What provenance should record about where the directory came from (e.g. the Orbax step).
    details: dict = field(default_factory=dict)


def locate_model(output_dir: Path) -> ModelLayout:
    """Return the directory to promote within a run's output directory, or refuse naming why."""
    if not output_dir.is_dir():
        raise PromotionError(
            f"The run's output directory {output_dir} does not exist.", code="output_dir_missing"
        )
    final_model = output_dir / FINAL_MODEL_DIRNAME
    if final_model.is_dir() and not final_model.is_symlink():
        kind = detect_layout(final_model)
        if kind:
            return ModelLayout(final_model, kind)
    kind = detect_layout(output_dir)
    if kind:
        return ModelLayout(output_dir, kind)
    orbax = latest_orbax_step(output_dir)
    if orbax:
        return orbax
    raise PromotionError(
        f"Nothing promotable in {output_dir}: looked for {LOOKED_FOR}, there or in "
        f"{FINAL_MODEL_DIRNAME}/, and for complete Orbax steps in checkpoints/<step>/ or "
        f"<step>/; found {describe_contents(output_dir)}.",
        code="nothing_promotable",
    )


def latest_orbax_step(output_dir: Path) -> ModelLayout | None:
    """Return the latest complete Orbax step of a Tunix run; refuse when every step is partial."""
    for name in ORBAX_PARENTS:
        parent = output_dir / name if name else output_dir
        if not parent.is_dir() or parent.is_symlink():
            continue
        steps = [
            p for p in parent.iterdir() if p.name.isdigit() and p.is_dir() and not p.is_symlink()
        ]
        writing = [p.name for p in parent.iterdir() if ".orbax-checkpoint-tmp" in p.name]
        if not steps and not writing:
            continue
        complete = [p for p in steps if (p / ORBAX_COMMIT_MARKER).is_file()]
        if not complete:
            partial = sorted({*(p.name for p in steps), *writing})
            raise PromotionError(
                f"The Orbax checkpoints in {parent} are all incomplete ({', '.join(partial)}: no "
                f"{ORBAX_COMMIT_MARKER}, so still being written or interrupted); wait for the run "
                "to save a step, or promote a run that finished one.",
                code="orbax_incomplete",
            )
        latest = max(complete, key=lambda p: int(p.name))
        return ModelLayout(
            latest,
            LayoutKind.ORBAX_CHECKPOINT,
            details={"orbax_step": int(latest.name), "orbax_checkpoints": str(parent)},
        )
    return None


def detect_layout(directory: Path) -> str | None:
    """Return the layout `directory` holds, or None; refuse a sharded model missing shards."""
    names = {p.name for p in directory.iterdir() if p.is_file()}
    if "adapter_config.json" in names and names.intersection(ADAPTER_WEIGHTS):
        return LayoutKind.LORA_ADAPTER
    if "config.json" not in names:
        return None
    if names.intersection(FULL_WEIGHTS):
        return LayoutKind.FULL_MODEL
    for index_name in SHARD_FORMATS:
        if index_name in names:
            check_shards(directory, index_name, names)
            return LayoutKind.FULL_MODEL
    return None


def check_shards(directory: Path, index_name: str, names: set[str]) -> None:
    """Refuse a sharded checkpoint whose index or shard numbering names files that are absent."""
    try:
        index = json.loads((directory / index_name).read_text(encoding="utf-8"))
        listed = set(index["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PromotionError(
            f"{index_name} in {directory} is not a valid shard index ({exc}).",
            code="bad_shard_index",
        ) from None
    prefix, suffix = SHARD_FORMATS[index_name]
    expected = set(listed)
    for name in listed:
        numbers = SHARD_NUMBERS.search(name)
        if numbers:
            total = int(numbers.group(2))
            expected |= {f"{prefix}{i:05d}-of-{total:05d}{suffix}" for i in range(1, total + 1)}
    missing = sorted(expected - names)
    if missing:
        raise PromotionError(
            f"The sharded checkpoint in {directory} is incomplete: missing {', '.join(missing)}.",
            code="missing_shards",
        )


def describe_contents(directory: Path) -> str:
    """Return a short listing of what a directory holds, for refusal messages."""
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in directory.iterdir())
    if not entries:
        return "an empty directory"
    shown = ", ".join(entries[:FOUND_LISTED])
    more = len(entries) - FOUND_LISTED
    return shown + (f" and {more} more" if more > 0 else "")
