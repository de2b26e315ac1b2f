#!/usr/bin/env bash
# The inter-host link of docs/scaling.md, measured: a sum all-reduce of the whole gradient
# buffer (5,977,530 floats, gnet_allreduce_bench) between 2 ranks over TCP between two hosts
# of the test cluster (tests/cluster/cluster.sh: network namespaces joined by veth pairs on
# this machine), against the same 2 ranks on one host (Open MPI's shared memory); then the
# 2-rank training step (CPU backend, synthetic 28x28 images, global batch 64, 1 thread a rank,
# 40 steps) both ways: gnet_dist's "trained N steps in S s" line. Needs root and network
# namespaces (cluster.sh --check).
# usage: bench/tcp_allreduce.sh BUILD_DIR [ITERS]   (BUILD_DIR with gnet_allreduce_bench, gnet_dist)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")/gnet_allreduce_bench
dist=$(realpath "$1")/gnet_dist
iters=${2:-10}
train=(--device cpu --synthetic 2560 --batch-size 64 --epochs 1 --max-steps 40 --threads 1
  --test-limit 64 --no-progress)
[ -x "$bin" ] || { echo "tcp_allreduce: $bin: not built" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "one host, shared memory:"
timeout 300 mpirun --timeout 240 -np 2 "$bin" --iters "$iters" | tail -1
timeout 300 mpirun --timeout 240 -np 2 "$dist" "${train[@]}" | grep '^trained'

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'node1 slots=1\nnode2 slots=1\n' >"$tmp/hosts"
# (cluster.sh runs its command on node1 as a remote shell would: a script, not bash -c)
cat >"$tmp/across.sh" <<EOF
#!/usr/bin/env bash
mpirun --timeout 240 \$GNET_CLUSTER_MPIRUN --hostfile $tmp/hosts -np 2 -x OMPI_ALLOW_RUN_AS_ROOT \\
  -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \$@
EOF
chmod +x "$tmp/across.sh"
echo "two hosts, TCP over veth:"
timeout 300 "$here/../tests/cluster/cluster.sh" -- "$tmp/across.sh" "$bin" --iters "$iters" |
  tail -1
timeout 300 "$here/../tests/cluster/cluster.sh" -- "$tmp/across.sh" "$dist" "${train[@]}" |
  grep '^trained'
