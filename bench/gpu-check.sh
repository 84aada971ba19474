#!/usr/bin/env bash
# The PyTorch backend on a GPU: torchvision's resnet50 with random weights,
# synthetic 224x224 data, batch 64, three strategies (linear probe, freeze up
# to layer3, full fine-tune), one epoch each. Prints FreezeLens's summary
# table: step time, memory and samples per second per strategy. Expected:
# the linear probe fastest and leanest, the full fine-tune slowest and
# heaviest. Needs Node 20, `npm ci`, and a Python with torch and torchvision
# that sees the GPU.
#
#   bash bench/gpu-check.sh                      # PYTHON=python3 DEVICE=cuda
#   PYTHON=/usr/bin/python3 DEVICE=cpu SIZE=64 BATCH=8 SAMPLES=48 bash bench/gpu-check.sh   # a smoke run without a GPU
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
SIZE="${SIZE:-224}"
BATCH="${BATCH:-64}"
SAMPLES="${SAMPLES:-1280}"   # 1,024 training samples: 16 steps of 64

[ -f dist/cli/freezelens.js ] || node scripts/build.mjs
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Synthetic images, made on the fly from the index (nothing to download or store).
cat > "$work/synthetic.py" <<PY
import torch
from torch.utils.data import Dataset

class Synthetic(Dataset):
    classes = [str(i) for i in range(10)]
    def __init__(self, n, offset):
        self.n, self.offset = n, offset
    def __len__(self):
        return self.n
    def __getitem__(self, i):
        g = torch.Generator().manual_seed(self.offset + i)
        return torch.randn(3, $SIZE, $SIZE, generator=g), (self.offset + i) % 10

def data():
    val = max(1, $SAMPLES // 5)
    return Synthetic($SAMPLES - val, 0), Synthetic(val, 10**6)
PY

"$PYTHON" -c 'import torch, torchvision; print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, CUDA {torch.version.cuda}, GPU {torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}")'
cd "$work"
node "$OLDPWD/bin/freezelens.js" experiment --backend torch --python "$PYTHON" --device "$DEVICE" \
  --catalog resnet50 --random-weights --data-factory synthetic:data \
  --strategies linear-probe,freeze-to:layer3,full --epochs 1 --batch "$BATCH" --workers 2
