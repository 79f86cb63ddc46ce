#!/usr/bin/env python3
"""Write fixtures/smollm2/reference.json: SmolLM2-135M-Instruct run in numpy from its GGUF.

An independent reading of the model for the LLM engine's tests (never run by CI): the
`gguf` package reads and dequantizes the weights, and the llama forward pass is written
out below in float32 numpy. Two variants:

- "f32": weights dequantized to f32, activations in f32 (the plain reference);
- "q8": the same, but every quantized matrix product first quantizes its activations per
  block of 32 exactly as notes/llm-plan.md specifies (amax, scale amax * f32(1/127),
  round half to even, clamp to ±127) and sums block by block, as the engine does. It
  still differs from the engine in summation order inside a block and in rsqrt/exp, so
  the engine's test compares with a tolerance, and the two variants' distance shows what
  the activation quantization itself costs.

For each prompt: the token ids, the logits of the last prompt position (first 64 values,
argmax, top-5), and a greedy continuation of up to 32 tokens from each variant with the
gap between the two best logits at each step (a step with a gap < 0.05 is a near tie).

Usage: python3 scripts/llama_reference.py [--smollm2 PATH] [--out DIR] [--tokens N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gguf
import numpy as np
from gguf.quants import dequantize
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from common import SMOLLM2, add_model_args, verified, write_model_fixture

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time",
]
NEAR_TIE = 0.05
F32_ONE_OVER_127 = np.frombuffer(np.uint32(0x3C010204).tobytes(), dtype=np.float32)[0]


def field(reader, key):
    part = reader.fields[key]
    value = part.parts[part.data[0]]
    return bytes(value).decode() if part.types[0] == gguf.GGUFValueType.STRING else value[0].item()


def strings(reader, key):
    part = reader.fields[key]
    return [bytes(part.parts[i]).decode() for i in part.data]


class Model:
    """The weights, dequantized to float32, and the hyperparameters."""

    def __init__(self, path: Path):
        reader = gguf.GGUFReader(path)
        self.reader = reader
        self.layers = field(reader, "llama.block_count")
        self.heads = field(reader, "llama.attention.head_count")
        self.kv_heads = field(reader, "llama.attention.head_count_kv")
        self.dim = field(reader, "llama.embedding_length")
        self.head_dim = self.dim // self.heads
        self.eps = np.float32(field(reader, "llama.attention.layer_norm_rms_epsilon"))
        self.base = field(reader, "llama.rope.freq_base")
        self.weights = {}
        self.quantized = set()
        for tensor in reader.tensors:
            rows = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
            shape = [int(d) for d in reversed(tensor.shape)]  # outermost first
            self.weights[tensor.name] = rows.reshape(shape)
            if tensor.tensor_type in (gguf.GGMLQuantizationType.Q4_1, gguf.GGMLQuantizationType.Q8_0):
                self.quantized.add(tensor.name)

    def tokenizer(self) -> Tokenizer:
        tokens = strings(self.reader, "tokenizer.ggml.tokens")
        merges = [tuple(m.split(" ", 1)) for m in strings(self.reader, "tokenizer.ggml.merges")]
        vocab = {token: i for i, token in enumerate(tokens)}
        tokenizer = Tokenizer(models.BPE(vocab, merges))
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
        )
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.add_special_tokens([t for t in tokens[:17] if t.startswith("<")])
        return tokenizer


def quantize_activations(x: np.ndarray) -> np.ndarray:
    """x [n, K] → the values the engine's Q8 activation blocks stand for."""
    n, k = x.shape
    blocks = x.reshape(n, k // 32, 32)
    amax = np.abs(blocks).max(axis=2, keepdims=True)
    d = (amax * F32_ONE_OVER_127).astype(np.float32)
    inverse = np.where(d == 0, np.float32(0), np.float32(1) / np.where(d == 0, 1, d)).astype(np.float32)
    q = np.clip(np.rint(blocks * inverse), -127, 127)
    return (q * d).reshape(n, k).astype(np.float32)


def linear(model: Model, name: str, x: np.ndarray, variant: str) -> np.ndarray:
    w = model.weights[name]
    if variant == "q8" and name in model.quantized:
        x = quantize_activations(x)
    return (x @ w.T).astype(np.float32)


def rms_norm(x: np.ndarray, w: np.ndarray, eps: np.float32) -> np.ndarray:
    ms = np.mean(x * x, axis=-1, keepdims=True, dtype=np.float32)
    return (x / np.sqrt(ms + eps) * w).astype(np.float32)


def rope(x: np.ndarray, positions: np.ndarray, base: float) -> np.ndarray:
    """Rotates adjacent pairs (ggml's normal RoPE, as llama GGUFs expect)."""
    d = x.shape[-1]
    freqs = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    angles = positions[:, None].astype(np.float64) * freqs[None, :]
    cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * cos[:, None, :] - x1 * sin[:, None, :]
    out[..., 1::2] = x0 * sin[:, None, :] + x1 * cos[:, None, :]
    return out


def forward(model: Model, tokens: list[int], variant: str) -> np.ndarray:
    """Logits of every position for the whole sequence (no cache: sequences are short)."""
    n = len(tokens)
    x = model.weights["token_embd.weight"][tokens]
    positions = np.arange(n)
    mask = np.triu(np.full((n, n), -np.inf, dtype=np.float32), k=1)
    group = model.heads // model.kv_heads
    for layer in range(model.layers):
        p = f"blk.{layer}."
        h = rms_norm(x, model.weights[p + "attn_norm.weight"], model.eps)
        q = linear(model, p + "attn_q.weight", h, variant).reshape(n, model.heads, model.head_dim)
        k = linear(model, p + "attn_k.weight", h, variant).reshape(n, model.kv_heads, model.head_dim)
        v = linear(model, p + "attn_v.weight", h, variant).reshape(n, model.kv_heads, model.head_dim)
        q, k = rope(q, positions, model.base), rope(k, positions, model.base)
        k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) * np.float32(1 / np.sqrt(model.head_dim)) + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = (scores / scores.sum(axis=-1, keepdims=True)).astype(np.float32)
        attn = np.einsum("hqk,khd->qhd", probs, v).reshape(n, model.dim).astype(np.float32)
        x = x + linear(model, p + "attn_output.weight", attn, variant)
        h = rms_norm(x, model.weights[p + "ffn_norm.weight"], model.eps)
        gate = linear(model, p + "ffn_gate.weight", h, variant)
        up = linear(model, p + "ffn_up.weight", h, variant)
        silu = gate / (np.float32(1) + np.exp(-gate))
        x = x + linear(model, p + "ffn_down.weight", (silu * up).astype(np.float32), variant)
    x = rms_norm(x, model.weights["output_norm.weight"], model.eps)
    return linear(model, "token_embd.weight", x, variant)


def greedy(model: Model, tokens: list[int], steps: int, variant: str) -> tuple[np.ndarray, list[int], list[float]]:
    """The prompt's last logits, then up to `steps` greedy tokens and each step's top-2 gap."""
    out, gaps, first = [], [], None
    sequence = list(tokens)
    for _ in range(steps):
        logits = forward(model, sequence, variant)[-1]
        first = logits if first is None else first
        top2 = np.sort(logits)[-2:]
        token = int(np.argmax(logits))
        out.append(token)
        gaps.append(round(float(top2[1] - top2[0]), 6))
        sequence.append(token)
        if token == 2:
            break
    return first, out, gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(parser, [SMOLLM2])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "fixtures")
    parser.add_argument("--tokens", type=int, default=32, help="greedy tokens per prompt, at least 1 (default 32)")
    args = parser.parse_args()
    model = Model(verified(SMOLLM2, args.smollm2))
    tokenizer = model.tokenizer()
    cases = []
    for prompt in PROMPTS:
        ids = tokenizer.encode(prompt).ids
        case = {"prompt": prompt, "tokens": ids}
        last = {}
        for variant in ("f32", "q8"):
            logits, continuation, gaps = greedy(model, ids, args.tokens, variant)
            last[variant] = logits
            case[variant] = {
                "first_logits": [float(v) for v in logits[:64]],
                "argmax": int(np.argmax(logits)),
                "top5": [int(i) for i in np.argsort(-logits)[:5]],
                "greedy": continuation,
                "greedy_text": tokenizer.decode(continuation),
                "near_ties": [i for i, gap in enumerate(gaps) if gap < NEAR_TIE],
                "top2_gaps": gaps,
            }
        case["max_abs_logit_difference_f32_q8"] = float(np.max(np.abs(last["f32"] - last["q8"])))
        cases.append(case)
        print(f"{prompt!r}: f32 {case['f32']['greedy_text']!r} | q8 {case['q8']['greedy_text']!r}")
    path = args.out / "smollm2" / "reference.json"
    write_model_fixture(path, "scripts/llama_reference.py", SMOLLM2, {"near_tie": NEAR_TIE, "cases": cases})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
