#!/usr/bin/env python3
"""Write fixtures/smollm2/gguf.json from the SmolLM2 GGUF, read by the `gguf` package.

The `gguf` Python package (the reader maintained in llama.cpp's repository) is an
independent reading of the same file: the Rust GGUF reader's test compares its metadata,
its tensor table and the dequantized values of a few rows against this fixture.
Never run by CI.

Usage: python3 scripts/make_gguf_fixture.py [--smollm2 PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gguf
import numpy as np
from gguf.quants import dequantize

from common import SMOLLM2, add_model_args, verified, write_model_fixture

# (tensor, row) pairs whose first values are recorded: the first and last token
# embeddings (Q8_0), a Q4_1 projection row in the first and last block, an f32 norm.
ROWS = [
    ("token_embd.weight", 0),
    ("token_embd.weight", 49151),
    ("blk.0.attn_q.weight", 0),
    ("blk.0.attn_q.weight", 575),
    ("blk.29.ffn_down.weight", 17),
    ("output_norm.weight", 0),
]
VALUES_PER_ROW = 64

METADATA_KEYS = [
    "general.architecture",
    "llama.block_count",
    "llama.context_length",
    "llama.embedding_length",
    "llama.feed_forward_length",
    "llama.attention.head_count",
    "llama.attention.head_count_kv",
    "llama.rope.freq_base",
    "llama.attention.layer_norm_rms_epsilon",
    "llama.vocab_size",
    "llama.rope.dimension_count",
    "tokenizer.ggml.model",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
]


def field_value(field):
    """A scalar or string metadata value as plain JSON."""
    part = field.parts[field.data[0]]
    if field.types[0] == gguf.GGUFValueType.STRING:
        return bytes(part).decode()
    value = part[0].item()
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(parser, [SMOLLM2])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "fixtures")
    args = parser.parse_args()
    path = verified(SMOLLM2, args.smollm2)
    reader = gguf.GGUFReader(path)

    metadata = {key: field_value(reader.fields[key]) for key in METADATA_KEYS}
    tokens = reader.fields["tokenizer.ggml.tokens"]
    metadata["tokenizer.ggml.tokens.len"] = len(tokens.data)
    metadata["tokenizer.ggml.tokens.first"] = [bytes(tokens.parts[i]).decode() for i in tokens.data[:5]]
    metadata["tokenizer.ggml.merges.len"] = len(reader.fields["tokenizer.ggml.merges"].data)

    tensors = [
        {"name": t.name, "dims": [int(d) for d in t.shape], "type": t.tensor_type.name, "offset": int(t.data_offset)}
        for t in reader.tensors
    ]
    by_name = {t.name: t for t in reader.tensors}
    rows = []
    for name, row in ROWS:
        tensor = by_name[name]
        values = dequantize(tensor.data, tensor.tensor_type).astype(np.float32).reshape(-1, int(tensor.shape[0]))
        first = values[row, :VALUES_PER_ROW]
        rows.append({"tensor": name, "row": row, "bits": [int(v) for v in first.view(np.uint32)]})

    path = args.out / "smollm2" / "gguf.json"
    body = {"reader": "gguf==0.19.0 (scripts/requirements.txt)", "metadata": metadata, "tensors": tensors, "rows": rows}
    write_model_fixture(path, "scripts/make_gguf_fixture.py", SMOLLM2, body)
    print(f"wrote {path}: {len(tensors)} tensors, {len(rows)} rows")


if __name__ == "__main__":
    main()
