#!/bin/bash
# bench/gpu_device.sh: the GPU acceptance run on a machine with no network, from the
# folder .gpu/ that bench/gpu_carry.sh builds (packages the machine lacks, as one archive
# and wheels; SmolLM2's tokenizer; the First Impressions label and transcript files).
# Run from the repository root: `bash bench/gpu_device.sh`; the figures land in $OUT.
set -u
OUT=${OUT:-/tmp/lprd-gpu-out}; mkdir -p "$OUT"
T0=$(date +%s)
mkdir -p /tmp/site && tar -xJf .gpu/site.tar.xz -C /tmp/site \
  && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/*.whl \
  || { echo "unpack failed"; exit 3; }
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 UNSLOTH_DISABLE_STATISTICS=1
echo "unpacked in $(( $(date +%s) - T0 )) s"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 - <<'PY' 2>&1 | tail -25
import time, importlib.metadata as m
t = time.time()
import torch
print("torch", torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))
for n in ("transformers", "peft", "accelerate", "trl", "bitsandbytes", "unsloth", "unsloth_zoo", "torchao", "triton"):
    try:
        print(n, m.version(n))
    except Exception as e:
        print(n, "MISSING", e)
import unsloth  # noqa
from unsloth import FastLanguageModel  # noqa
import bitsandbytes as bnb
print("unsloth imported in %.1f s" % (time.time() - t), "bnb", bnb.__version__)
PY
echo "=== bench/gpu.py (elapsed $(( $(date +%s) - T0 )) s)"
python3 bench/gpu.py --device cuda --bases "${BASES:-qwen2.5-0.5b-shape,smollm2-shape}" \
  --tokenizer .gpu/tokenizer --fi-dir .gpu/fi --cache /tmp/lprd-cache \
  --child-timeout "${CHILD_TIMEOUT:-240}" ${EXTRA:-} > "$OUT/gpu.out" 2> "$OUT/gpu.err"
rc=$?
echo "bench rc=$rc after $(( $(date +%s) - T0 )) s"
grep -v "^{" "$OUT/gpu.out"
tail -c 3000 "$OUT/gpu.err"
exit $rc
