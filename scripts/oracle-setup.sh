#!/bin/sh
# Installs what the runtime oracle (test/oracle/) needs: PyTorch and torchvision
# for the system Python, from Debian's packages. Idempotent: does nothing when
# `/usr/bin/python3 -c 'import torch, torchvision'` already works, and runs
# `apt-get update` only when the packages are not known to apt yet.
set -eu

PY=${FREEZELENS_PYTHON:-/usr/bin/python3}
check() { OMP_NUM_THREADS=2 "$PY" -c 'import torch, torchvision' >/dev/null 2>&1; }

if check; then
  echo "oracle-setup: torch and torchvision already import under $PY"
  exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "oracle-setup: need root (or sudo) to apt-get install python3-torch python3-torchvision" >&2
    exit 1
  fi
fi

PKGS="python3-torch python3-torchvision"
known=1
for p in $PKGS; do
  apt-cache show "$p" >/dev/null 2>&1 || known=0
done
if [ "$known" = 0 ]; then
  $SUDO apt-get update
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $PKGS

if check; then
  echo "oracle-setup: torch and torchvision now import under $PY"
else
  echo "oracle-setup: installed $PKGS, but $PY still cannot import torch and torchvision" >&2
  exit 1
fi
