#!/usr/bin/env bash
# Installs what gnet builds, tests and runs with, from Debian 12's packages (needs root or
# sudo). Skips the install when every package is already there.
set -euo pipefail
pkgs=(cmake make gcc pkg-config libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools libdnnl-dev
      zlib1g-dev libinih-dev dataset-fashion-mnist python3-torch python3-h5py python3-numpy
      python3-pil python3-matplotlib slurm-wlm munge clang libclang-rt-14-dev cppcheck clang-tidy
      clang-format)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "install_deps.sh: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
