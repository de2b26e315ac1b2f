#!/usr/bin/env bash
# Sets up, builds and runs a short training: the real Fashion-MNIST is prepared as 4 HDF5
# shards, then 2 ranks (mpirun) train GoogLeNet for 3 epochs at 28x28 on the CPU (a few
# minutes on 2 cores). Extra arguments go to gnet_dist.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)"
data=build/data/fmnist
# Prepared once; a preparation of an older format (before the manifest held the files'
# checksums) is replaced.
grep -qx "format_version = 2" "$data/manifest.txt" 2>/dev/null ||
  build/gnet_prepare --src /usr/share/datasets/fashion-mnist --out "$data" --shards 4 --force
ranks=2
[ "$(nproc)" -ge 2 ] || ranks=1
# Open MPI refuses root unless told; one thread per rank so the ranks share the cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
exec mpirun -np "$ranks" build/gnet_dist --data "$data" --device auto --epochs 3 --batch-size 64 \
  --lr 0.05 --threads $(( $(nproc) / ranks )) --save build/quickstart.h5 "$@"
