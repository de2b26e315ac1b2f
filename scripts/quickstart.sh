#!/usr/bin/env bash
# Sets up, builds and runs a short training: 3 epochs of GoogLeNet on the real Fashion-MNIST
# at 28x28 on the CPU (a few minutes on 2 cores). Extra arguments go to gnet_dist.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)"
exec build/gnet_dist --idx /usr/share/datasets/fashion-mnist --device auto --epochs 3 \
  --batch-size 64 --lr 0.05 --save build/quickstart.h5 "$@"
