# The preamble the shell tests share (source it after reading the script's own arguments):
# Open MPI as root and oversubscribed (2-core machines), a temporary directory removed on exit
# together with any background job the test left, and check() that tallies failures. Tests
# that need the real Fashion-MNIST ($idx) call need_idx. Each check's line ends with the
# test's seconds so far, so that a slow test says where its time goes.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$1" -ne 0 ]; then echo "FAIL: $2 [${SECONDS} s]"; fail=1; else echo "ok: $2 [${SECONDS} s]"; fi; }
idx=/usr/share/datasets/fashion-mnist
need_idx() {
  [ -e "$idx/train-images-idx3-ubyte.gz" ] || { echo "FAIL: $idx not installed (dataset-fashion-mnist)"; exit 1; }
}
