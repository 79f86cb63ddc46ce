#!/usr/bin/env bash
# Side-by-side loopback load: `wasmtime serve` 48.0.8 running a hello-world wasi:http
# component (fresh instance per request, no receipts) and `wasmnn demo` running the echo
# handler (fresh instance, signed receipt, call recorded durably), both driven by wrk
# (Debian package `wrk`) with 1 thread at concurrency 1, 8 and 64. Never run in CI.
#
# wasmnn runs twice: with the same body every time ("same"; identical calls in the same
# second make the identical receipt, recorded once) and with a different body every
# time ("distinct"; every call is recorded durably before it is answered).
#
#   scripts/wasmtime-serve/bench.sh [SECONDS]
#
# Needs: wrk; wasmtime-cli 48.0.8 on PATH or under $WASMTIME_ROOT/bin (installed with
# `cargo install --locked wasmtime-cli@48.0.8 --root $WASMTIME_ROOT` if missing); the
# wasm32-wasip2 target; a release build of wasmnn (`cargo build --release`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
secs="${1:-10}"
root="${WASMTIME_ROOT:-$HOME/.local/wasmtime-48}"
export PATH="$root/bin:$PATH"
if ! wasmtime --version 2>/dev/null | grep -q '^wasmtime 48.0.8'; then
  cargo install --locked wasmtime-cli@48.0.8 --root "$root"
fi
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }

(cd "$here" && cargo build --release --target wasm32-wasip2 --quiet)
component="$here/target/wasm32-wasip2/release/hello_http.wasm"
data="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT

post="$data/post.lua"
printf 'wrk.method = "POST"\nwrk.body = "hello, wasmnn"\n' > "$post"
distinct="$data/distinct.lua"
cat > "$distinct" <<'LUA'
wrk.method = "POST"
local counter = 0
local run = tostring(os.time())
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, "hello, wasmnn " .. run .. " " .. counter)
end
LUA

wait_for() { for _ in $(seq 1 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.5; done; echo "no answer from $1" >&2; exit 1; }

run() { # name url [script]
  for c in 1 8 64; do
    wrk -t1 -c"$c" -d"${secs}s" --latency -s "${3:-$post}" "$2" \
      | awk -v name="$1" -v c="$c" '/ 50%/{p50=$2} / 99%/{p99=$2} /Requests\/sec/{rps=$2} /Non-2xx/{err=$NF}
          END{printf "%-16s c=%-3s %10s req/s  p50 %-9s p99 %-9s%s\n", name, c, rps, p50, p99, err ? "  non-2xx " err : ""}'
  done
}

# -Scli: Rust std imports wasi:cli (environment, exit), which the proxy world lacks.
wasmtime serve -Scli --addr 127.0.0.1:8093 "$component" >"$data/wasmtime.log" 2>&1 &
wait_for http://127.0.0.1:8093/
run "wasmtime serve" http://127.0.0.1:8093/
kill %1; wait %1 2>/dev/null || true

"$repo/target/release/wasmnn" demo --data "$data/node" --node-key "$data/node.key" --backend cpu \
  --listen 127.0.0.1:8094 --examples "$repo/examples" >"$data/wasmnn.log" 2>&1 &
wait_for http://127.0.0.1:8094/healthz
run "wasmnn same" http://127.0.0.1:8094/v1/functions/echo/invoke
run "wasmnn distinct" http://127.0.0.1:8094/v1/functions/echo/invoke "$distinct"
