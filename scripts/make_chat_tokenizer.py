#!/usr/bin/env python3
"""Write examples/chat/assets/{tokenizer.json,chat_template.jinja} from the SmolLM2 GGUF.

The chat handler tokenizes in the guest, but models load by name on the host, so the
GGUF's vocabulary cannot be read there: this script extracts it once into a committed
`tokenizer.json` (notes/chat-plan.md section 1). The pipeline is llama_reference.py's,
which matches llama.cpp's SMOLLM pre-tokenizer type (`\\p{N}` split, then the GPT-2 regex):

- model `BPE(vocab, merges)` from `tokenizer.ggml.tokens` / `tokenizer.ggml.merges`;
- pre-tokenizer `Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False)]`;
- decoder `ByteLevel`;
- the 17 control tokens (ids 0..=16) as special tokens.

It also writes the GGUF's `tokenizer.chat_template`, verbatim, as `chat_template.jinja`,
and prints both files' sha256 for assets/README.md.

With `--llama-cpp-models DIR` (llama.cpp's `models/` directory, holding
`ggml-vocab-{starcoder,refact}.gguf` and their `.gguf.inp` / `.gguf.out` test vectors), it
also builds the same pipeline from those vocabularies and checks it reproduces llama.cpp's
expected ids. Never run by CI.

Usage: python3 scripts/make_chat_tokenizer.py [--smollm2 PATH] [--out DIR] [--llama-cpp-models DIR]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import gguf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from common import SMOLLM2, add_model_args, verified

ROOT = Path(__file__).resolve().parent.parent
CONTROL_TOKENS = 17
# llama.cpp's separator between test texts in `.gguf.inp`.
TEST_SEPARATOR = "\n__ggml_vocab_test__\n"


def strings(reader: gguf.GGUFReader, key: str) -> list[str]:
    """A string-array metadata field."""
    part = reader.fields[key]
    return [bytes(part.parts[i]).decode() for i in part.data]


def string(reader: gguf.GGUFReader, key: str) -> str:
    """A string metadata field."""
    part = reader.fields[key]
    return bytes(part.parts[part.data[0]]).decode()


def build(reader: gguf.GGUFReader, specials: int) -> Tokenizer:
    """The tokenizer of a GGUF vocabulary, with its first `specials` tokens as specials."""
    tokens = strings(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in strings(reader, "tokenizer.ggml.merges")]
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise SystemExit("the vocabulary has duplicate tokens")
    tokenizer = Tokenizer(models.BPE(vocab, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(tokens[:specials])
    return tokenizer


def check_llama_cpp(directory: Path) -> None:
    """Reproduce llama.cpp's test vectors for the vocabularies sharing SmolLM2's pre-type."""
    for name in ["starcoder", "refact"]:
        path = directory / f"ggml-vocab-{name}.gguf"
        reader = gguf.GGUFReader(path)
        token_types = reader.fields["tokenizer.ggml.token_type"]
        control = [i for i, t in enumerate(token_types.data) if token_types.parts[t][0] == 3]
        tokenizer = build(reader, 0)
        tokenizer.add_special_tokens([strings(reader, "tokenizer.ggml.tokens")[i] for i in control])
        texts = path.with_suffix(".gguf.inp").read_text().split(TEST_SEPARATOR)
        expected = path.with_suffix(".gguf.out").read_text().split("\n")
        texts = [t.removeprefix("\n") if i == 0 else t for i, t in enumerate(texts)]
        ok = 0
        for text, line in zip(texts, expected):
            ids = [int(x) for x in line.split()]
            ok += tokenizer.encode(text, add_special_tokens=False).ids == ids
        print(f"{name}: {ok}/{min(len(texts), len(expected))} test vectors match llama.cpp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(parser, [SMOLLM2])
    parser.add_argument("--out", type=Path, default=ROOT / "examples" / "chat" / "assets")
    parser.add_argument("--llama-cpp-models", type=Path, help="llama.cpp's models/ directory")
    args = parser.parse_args()

    reader = gguf.GGUFReader(verified(SMOLLM2, args.smollm2))
    tokenizer = build(reader, CONTROL_TOKENS)
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer_path = args.out / "tokenizer.json"
    tokenizer.save(str(tokenizer_path), pretty=False)
    template_path = args.out / "chat_template.jinja"
    template_path.write_bytes(string(reader, "tokenizer.chat_template").encode())

    for path in [tokenizer_path, template_path]:
        data = path.read_bytes()
        print(f"{path.relative_to(ROOT)}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    prompt = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = Tokenizer.from_file(str(tokenizer_path)).encode(prompt, add_special_tokens=False).ids
    print(f"default system + 'What is 2 + 2?': {len(ids)} tokens {ids}")
    if args.llama_cpp_models:
        check_llama_cpp(args.llama_cpp_models)


if __name__ == "__main__":
    main()
