"""Tokenizers and SFT datasets for the Tunix trainer, as numpy batches (no JAX here).

A dataset is JSONL, one object a line: `{"text": ...}` (loss on every token) or
`{"prompt": ..., "completion": ...}` (loss on the completion only). A base checkpoint with a
`tokenizer.json` is tokenized with the `tokenizers` library; otherwise the byte-level tokenizer
below is used, which needs no file at all: ids 0-7 are special (0 pad, 1 bos, 2 eos), then the
256 byte values.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BYTE_OFFSET = 8
BYTE_VOCAB_SIZE = BYTE_OFFSET + 256
EVAL_SHARE = 10  # one example in ten is held out for evaluation
MAX_EVAL_BATCHES = 4


class DatasetError(ValueError):
    """A dataset that cannot be trained on; the message names the file and the line."""


class ByteTokenizer:
    """Bytes of UTF-8 text as ids: works with any text and needs no vocabulary file."""

    pad_id, bos_id, eos_id = 0, 1, 2
    vocab_size = BYTE_VOCAB_SIZE
    name = "byte-level"

    def encode(self, text: str) -> list[int]:
        """Return the ids of `text`."""
        return [byte + BYTE_OFFSET for byte in text.encode("utf-8")]


class HuggingFaceTokenizer:
    """A base checkpoint's `tokenizer.json`, through the `tokenizers` library."""

    name = "tokenizer.json"

    def __init__(self, directory: Path, model_config: dict):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.vocab_size = self._tokenizer.get_vocab_size()
        eos = model_config.get("eos_token_id")
        eos = eos[0] if isinstance(eos, list) else eos
        self.eos_id = eos if isinstance(eos, int) else 0
        bos = model_config.get("bos_token_id")
        self.bos_id = bos if isinstance(bos, int) else None
        pad = model_config.get("pad_token_id")
        self.pad_id = pad if isinstance(pad, int) else self.eos_id

    def encode(self, text: str) -> list[int]:
        """Return the ids of `text`, without special tokens (the trainer adds its own)."""
        return self._tokenizer.encode(text, add_special_tokens=False).ids


def tokenizer_for(base_model: Path, model_config: dict):
    """Return the base checkpoint's own tokenizer when it ships one, else the byte-level one."""
    if (base_model / "tokenizer.json").is_file():
        return HuggingFaceTokenizer(base_model, model_config)
    return ByteTokenizer()


def first_record_problem(path: Path) -> str | None:
    """Return why the dataset's first record is unusable, or None: a cheap check before launch."""
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    return record_problem(line, number)
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read: {exc}"
    return "is empty"


def record_problem(line: str, number: int) -> str | None:
    """Return what is wrong with one JSONL line, or None."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        return f"line {number} is not JSON ({exc})"
    if not isinstance(record, dict):
        return f"line {number} is not a JSON object"
    if isinstance(record.get("text"), str):
        return None
    if isinstance(record.get("prompt"), str) and isinstance(record.get("completion"), str):
        return None
    return f'line {number} has neither "text" nor "prompt" and "completion" strings'


def read_records(path: Path) -> list[dict]:
    """Read every record of a JSONL dataset, refusing the first bad line by number."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            problem = record_problem(line, number)
            if problem:
                raise DatasetError(f"The dataset {path}: {problem}.")
            records.append(json.loads(line))
    if len(records) < 2:
        raise DatasetError(f"The dataset {path} needs at least 2 records; it has {len(records)}.")
    return records


@dataclass(frozen=True)
class Example:
    """One tokenized example: ids and which of them the loss is computed on."""

    tokens: np.ndarray
    loss_mask: np.ndarray


def encode_record(record: dict, tokenizer, sequence_length: int) -> Example | None:
    """Tokenize a record to `sequence_length` ids; None when truncation leaves nothing to learn."""
    bos = [tokenizer.bos_id] if tokenizer.bos_id is not None else []
    if "text" in record:
        body = [*tokenizer.encode(record["text"]), tokenizer.eos_id]
        ids, mask = bos + body, [0] * len(bos) + [1] * len(body)
    else:
        prompt = bos + tokenizer.encode(record["prompt"])
        completion = [*tokenizer.encode(record["completion"]), tokenizer.eos_id]
        ids, mask = prompt + completion, [0] * len(prompt) + [1] * len(completion)
    ids, mask = ids[:sequence_length], mask[:sequence_length]
    if sum(mask[1:]) == 0:
        return None
    tokens = np.full(sequence_length, tokenizer.pad_id, dtype=np.int32)
    loss_mask = np.zeros(sequence_length, dtype=bool)
    tokens[: len(ids)] = ids
    loss_mask[: len(mask)] = mask
    return Example(tokens, loss_mask)


@dataclass(frozen=True)
class SFTData:
    """Training and evaluation batches: dicts of `input_tokens` and `input_mask` arrays."""

    train: list[Example]
    eval: list[Example]
    dropped: int

    def train_batches(self, *, steps: int, batch_size: int, seed: int):
        """Yield `steps` training batches, reshuffling the examples each epoch."""
        rng = np.random.default_rng(seed)
        order: list[int] = []
        for _ in range(steps):
            while len(order) < batch_size:
                order.extend(rng.permutation(len(self.train)).tolist())
            picked, order = order[:batch_size], order[batch_size:]
            yield stack([self.train[i] for i in picked])

    def eval_batches(self, *, batch_size: int) -> list[dict]:
        """Return the fixed evaluation batches (examples repeat to fill the last one)."""
        count = min(MAX_EVAL_BATCHES, max(1, -(-len(self.eval) // batch_size)))
        cycled = [self.eval[i % len(self.eval)] for i in range(count * batch_size)]
        return [stack(cycled[i : i + batch_size]) for i in range(0, len(cycled), batch_size)]


def stack(examples: list[Example]) -> dict:
    """Stack examples into one batch."""
    return {
        "input_tokens": np.stack([e.tokens for e in examples]),
        "input_mask": np.stack([e.loss_mask for e in examples]),
    }


def load_sft_data(path: Path, tokenizer, *, sequence_length: int) -> SFTData:
    """Tokenize a JSONL dataset and hold one example in ten out for evaluation."""
    examples, dropped = [], 0
    for record in read_records(path):
        example = encode_record(record, tokenizer, sequence_length)
        if example is None:
            dropped += 1
        else:
            examples.append(example)
    if len(examples) < 2:
        raise DatasetError(
            f"The dataset {path} has {len(examples)} usable records at sequence_length "
            f"{sequence_length} ({dropped} had no completion token left after truncation); "
            "raise sequence_length or shorten the prompts."
        )
    held_out = [e for i, e in enumerate(examples) if i % EVAL_SHARE == EVAL_SHARE - 1]
    train = [e for i, e in enumerate(examples) if i % EVAL_SHARE != EVAL_SHARE - 1]
    return SFTData(train=train, eval=held_out or examples[-1:], dropped=dropped)
