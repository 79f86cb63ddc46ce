#!/usr/bin/env bash
# llama.cpp beside wasmnn's llama engine on SmolLM2-135M-Instruct Q4_1, on this machine
# (docs/BENCHMARKS.md). Never run in CI.
#
# Builds llama.cpp's `llama-bench` (CPU only, Release, -march=native, ~10 minutes on 2
# cores) from the sources vendored in the PyPI sdist of llama-cpp-python 0.3.36
# (ggml-org/llama.cpp@0c1e57098bba43ac29e6e3b677cdceebdd22334f) under $LLAMA_DIR
# (default /work/tools/llama) if it is not there yet, then runs
#   llama-bench -m SmolLM2 -p 16 -n 64 -t 1,2
# and `cargo bench --bench llm` (the same loads on our CPU and wgpu executors) back to
# back. Needs curl, cmake, a C++ compiler and the model in the wasmnn model cache
# (`cargo run -- models fetch`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
LLAMA_DIR=${LLAMA_DIR:-/work/tools/llama}
SDIST=llama_cpp_python-0.3.36
URL="https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/$SDIST.tar.gz"
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
BENCH="$LLAMA_DIR/$SDIST/build/bin/llama-bench"

if [[ ! -x $BENCH ]]; then
    mkdir -p "$LLAMA_DIR"
    (
        cd "$LLAMA_DIR"
        [[ -f $SDIST.tar.gz ]] || curl -sSfLO "$URL"
        echo "$SHA256  $SDIST.tar.gz" | sha256sum -c
        tar xzf "$SDIST.tar.gz"
        cd "$SDIST"
        # LLAMA_OPENSSL=OFF: no HTTPS model downloads (llama-bench reads a local file).
        cmake -S vendor/llama.cpp -B build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_OPENMP=ON \
            -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF \
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=OFF \
            -DLLAMA_BUILD_APP=OFF
        cmake --build build --target llama-bench -j "$(nproc)"
    )
fi

MODEL=$(cargo run -q --release -- models path smollm2 2>/dev/null || true)
if [[ -z $MODEL ]]; then
    MODEL=$(find "${WASMNN_MODEL_CACHE:-$HOME/.cache/wasmnn/models}" -name 'SmolLM2-135M-Instruct.Q4_1.gguf' | head -1)
fi
echo "model: $MODEL"
"$BENCH" --version
"$BENCH" -m "$MODEL" -p 16 -n 64 -t 1,2 -r 5
cargo bench --bench llm -- --noplot
