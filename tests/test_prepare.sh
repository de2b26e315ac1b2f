#!/usr/bin/env bash
# gnet_prepare's command line. Every bad input (missing, truncated or inconsistent IDX files,
# a bad option, an existing or unwritable output, a write error) ends with a non-zero status,
# exactly one stderr line naming the file (or option) and the problem, and neither the output
# nor a temporary directory (nor parents it created) left behind. A good run prints one line per file and the id, --force
# replaces only a prepared directory, and h5ls, h5dump and h5py read every file with the
# documented layout (chunks, deflate, attributes, CRC32s equal to the sources').
# usage: test_prepare.sh GNET_PREPARE [PYTHON]
set -u
prep=$1 py=${2:-/usr/bin/python3}
source "$(dirname "$0")/lib.sh"
pass() { check 0 "$1"; }
flunk() { check 1 "$1"; }

# IDX sets: good (gzip), plain, and one broken variant per directory.
"$py" - "$tmp" <<'PY' || { echo "FAIL: generating IDX files"; exit 1; }
import gzip, os, struct, sys
import numpy as np
root = sys.argv[1]
rng = np.random.default_rng(3)
def write(path, data, gz=True):
    if gz:
        with gzip.open(path + ".gz", "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
def idx_set(d, prefix, n, rows=6, cols=4, gz=True, labels=None, img_magic=0x803, nlab=None):
    os.makedirs(d, exist_ok=True)
    img = rng.integers(0, 256, n * rows * cols, dtype=np.uint8).tobytes()
    lab = labels if labels is not None else (np.arange(n) % 10).astype(np.uint8)
    nlab = n if nlab is None else nlab
    write(f"{d}/{prefix}-images-idx3-ubyte", struct.pack(">IIII", img_magic, n, rows, cols) + img, gz)
    write(f"{d}/{prefix}-labels-idx1-ubyte", struct.pack(">II", 0x801, nlab) + lab[:nlab].tobytes(), gz)
def pair(d, gz=True, **train):
    idx_set(d, "train", 300, gz=gz, **train)
    idx_set(d, "t10k", 50, gz=gz)
pair(f"{root}/good")
pair(f"{root}/plain", gz=False)
pair(f"{root}/nolabels"); os.remove(f"{root}/nolabels/train-labels-idx1-ubyte.gz")
pair(f"{root}/truncated")
p = f"{root}/truncated/train-images-idx3-ubyte.gz"
data = open(p, "rb").read(); open(p, "wb").write(data[: len(data) // 2])
pair(f"{root}/magic", img_magic=0x804)
pair(f"{root}/count", nlab=299)
labels = (np.arange(300) % 10).astype(np.uint8); labels[17] = 10
pair(f"{root}/label10", labels=labels)
pair(f"{root}/testsize"); idx_set(f"{root}/testsize", "t10k", 50, rows=4, cols=6)
PY

# expect_refused RC NAME NEEDLE... -- ARGS: status RC, one stderr line holding every NEEDLE,
# nothing on stdout, no $tmp/out (unless it was there before) and no $tmp/out.tmp.*.
expect_refused() {
  local want=$1 name=$2; shift 2
  local needles=()
  while [ "$1" != "--" ]; do needles+=("$1"); shift; done
  shift
  local had_out=0; [ -e "$tmp/out" ] && had_out=1
  "$prep" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  local rc=$? ok=1 n
  [ "$rc" -eq "$want" ] || { echo "  status $rc, expected $want"; ok=0; }
  [ "$(wc -l <"$tmp/stderr")" -eq 1 ] || { echo "  stderr is not one line:"; cat "$tmp/stderr"; ok=0; }
  for n in "${needles[@]}"; do
    grep -qF -- "$n" "$tmp/stderr" || { echo "  stderr lacks '$n': $(cat "$tmp/stderr")"; ok=0; }
  done
  [ -s "$tmp/stdout" ] && { echo "  stdout not empty"; ok=0; }
  [ $had_out -eq 1 ] || [ ! -e "$tmp/out" ] || { echo "  $tmp/out was created"; ok=0; }
  ls -d "$tmp"/out.tmp.* >/dev/null 2>&1 && { echo "  temporary directory left"; ok=0; }
  if [ $ok -eq 1 ]; then pass "$name: $(cat "$tmp/stderr")"; else flunk "$name"; fi
}

run() { "$prep" --out "$tmp/out" --shards 2 "$@"; }

# Bad IDX input (gnet_idx_load's checks) and the test/train size check.
expect_refused 1 "missing directory" "$tmp/none/train-images-idx3-ubyte" "No such file" -- \
  --src "$tmp/none" --out "$tmp/out" --shards 2
expect_refused 1 "missing file" "$tmp/nolabels/train-labels-idx1-ubyte" "cannot open" -- \
  --src "$tmp/nolabels" --out "$tmp/out" --shards 2
expect_refused 1 "truncated gzip" "$tmp/truncated/train-images-idx3-ubyte.gz" -- \
  --src "$tmp/truncated" --out "$tmp/out" --shards 2
expect_refused 1 "wrong magic" "$tmp/magic/train-images-idx3-ubyte.gz" "bad magic number" -- \
  --src "$tmp/magic" --out "$tmp/out" --shards 2
expect_refused 1 "count mismatch" "$tmp/count/train-labels-idx1-ubyte.gz" "299 labels but" -- \
  --src "$tmp/count" --out "$tmp/out" --shards 2
expect_refused 1 "label 10" "$tmp/label10/train-labels-idx1-ubyte.gz" "label 10 at index 17" -- \
  --src "$tmp/label10" --out "$tmp/out" --shards 2
expect_refused 1 "test/train image sizes" "$tmp/testsize" "test images are 4x6, training images 6x4" -- \
  --src "$tmp/testsize" --out "$tmp/out" --shards 2
expect_refused 1 "more shards than samples" "$tmp/good" "300 training samples cannot fill 301 shards" -- \
  --src "$tmp/good" --out "$tmp/out" --shards 301

# The command line.
expect_refused 2 "unknown option" "unknown option '--shard'" -- --src "$tmp/good" --out "$tmp/out" --shard 2
expect_refused 2 "missing value" "--shards: missing value" -- --src "$tmp/good" --out "$tmp/out" --shards
expect_refused 2 "no --out" "missing --out DIR" -- --src "$tmp/good" --shards 2
expect_refused 2 "no --shards" "missing --shards N" -- --src "$tmp/good" --out "$tmp/out"
expect_refused 2 "--shards 0" "--shards: '0' is not an integer 1..4096" -- --src "$tmp/good" --out "$tmp/out" --shards 0
expect_refused 2 "--shards 4097" "--shards: '4097'" -- --src "$tmp/good" --out "$tmp/out" --shards 4097
expect_refused 2 "--shards 2x" "--shards: '2x'" -- --src "$tmp/good" --out "$tmp/out" --shards 2x
expect_refused 2 "--seed -1" "--seed: '-1'" -- --src "$tmp/good" --out "$tmp/out" --shards 2 --seed -1
"$prep" --help >"$tmp/help" 2>&1 && grep -q "usage: gnet_prepare --src DIR --out DIR --shards N" "$tmp/help"
[ $? -eq 0 ] && pass "--help" || flunk "--help"

# Unwritable output: under a regular file (as root too), and in a read-only directory.
touch "$tmp/afile"
expect_refused 1 "output under a file" "$tmp/afile/out" "Not a directory" -- \
  --src "$tmp/good" --out "$tmp/afile/out" --shards 2
mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
if [ "$(id -u)" -ne 0 ]; then
  expect_refused 1 "read-only parent" "$tmp/ro/out" "Permission denied" -- \
    --src "$tmp/good" --out "$tmp/ro/out" --shards 2
  [ -z "$(ls -A "$tmp/ro")" ] || flunk "read-only parent: something was left in it"
fi

# A write error (the file size limit, with SIGXFSZ ignored so that write(2) fails with EFBIG)
# removes the temporary directory and the missing parents gnet_prepare created for --out.
( trap '' XFSZ; ulimit -f 4
  expect_refused 1 "write error" "$tmp/p1/p2/out.tmp." ".h5: write failed: File too large" -- \
    --src "$tmp/good" --out "$tmp/p1/p2/out" --shards 2
  exit $fail ) || fail=1
[ -e "$tmp/p1" ] && flunk "write error: created parents left behind"
"$prep" --src "$tmp/good" --out "$tmp/p1/p2/out" --shards 2 >/dev/null && [ -e "$tmp/p1/p2/out/test.h5" ]
[ $? -eq 0 ] && pass "missing parents of --out are created" || flunk "missing parents of --out"

# A name too long for its temporary sibling (NAME_MAX less ".tmp.<pid>") is refused before
# the sources are read, and nothing is created (it used to be found only at mkdir).
expect_refused 1 "over-long --out name" "is too long (250 bytes; the limit is 240)" -- \
  --src "$tmp/good" --out "$tmp/p3/new/$(printf '%0250d' 0)" --shards 2
[ -e "$tmp/p3" ] && flunk "over-long --out name: its parents were created"

# A good run (plain files) prints one line per file and the id; trailing slashes are fine.
if "$prep" --src "$tmp/plain" --out "$tmp/out/" --shards 3 --seed 5 >"$tmp/stdout" 2>"$tmp/stderr"; then
  lines=$(grep -c "samples$" "$tmp/stdout")
  id=$(sed -n 's/.*manifest.txt: id \([0-9a-f]*\),.*/\1/p' "$tmp/stdout")
  if [ "$lines" -eq 4 ] && grep -q "train-00000-of-00003.h5: 100 samples" "$tmp/stdout" &&
     grep -q "test.h5: 50 samples" "$tmp/stdout" && [ ${#id} -eq 16 ] && [ ! -s "$tmp/stderr" ] &&
     grep -q "^id = $id$" "$tmp/out/manifest.txt"; then
    pass "plain IDX files: $(tr '\n' '|' <"$tmp/stdout")"
  else
    flunk "plain IDX files: $(cat "$tmp/stdout" "$tmp/stderr")"
  fi
else
  flunk "plain IDX files: $(cat "$tmp/stderr")"
fi

# The same sources, seed and shard count give the same bytes (HDF5 keeps no object times), so
# the manifest's file checksums are reproducible too.
sleep 1.1 # a second later: object times, were they kept, would differ
"$prep" --src "$tmp/plain" --out "$tmp/out_again" --shards 3 --seed 5 >/dev/null 2>&1 &&
  (cd "$tmp/out" && for f in *; do cmp -s "$f" "$tmp/out_again/$f" || exit 1; done) &&
  [ "$(ls "$tmp/out" | wc -l)" -eq 5 ]
[ $? -eq 0 ] && pass "a second preparation is byte-identical" || flunk "a second preparation differs"

# An existing output: refused without --force (and untouched); replaced with it.
before=$(cat "$tmp/out/manifest.txt")
expect_refused 1 "existing output" "$tmp/out" "already exists (use --force" -- \
  --src "$tmp/good" --out "$tmp/out" --shards 2
[ "$(cat "$tmp/out/manifest.txt")" = "$before" ] && pass "existing output untouched" || flunk "existing output changed"
if run --src "$tmp/good" --seed 9 --force >/dev/null 2>"$tmp/stderr" && [ ! -s "$tmp/stderr" ] &&
   grep -q "^shards = 2$" "$tmp/out/manifest.txt" && [ ! -e "$tmp/out/train-00002-of-00003.h5" ] &&
   ! ls -d "$tmp"/out.old.* "$tmp"/out.tmp.* >/dev/null 2>&1; then
  pass "--force replaces a prepared directory, nothing left aside"
else
  flunk "--force: $(cat "$tmp/stderr"; ls "$tmp")"
fi
mkdir "$tmp/other" && touch "$tmp/other/precious"
expect_refused 1 "--force on a foreign directory" "$tmp/other" "has no manifest.txt and is not empty" -- \
  --src "$tmp/good" --out "$tmp/other" --shards 2 --force
[ -e "$tmp/other/precious" ] || flunk "--force on a foreign directory: its file is gone"
mkdir "$tmp/empty"
run --src "$tmp/good" --out "$tmp/empty" --force >/dev/null 2>&1 && [ -e "$tmp/empty/manifest.txt" ]
[ $? -eq 0 ] && pass "--force fills an empty directory" || flunk "--force on an empty directory"

# h5ls -r and h5dump -H read every file (when the HDF5 tools are installed).
if command -v h5ls >/dev/null && command -v h5dump >/dev/null; then
  ok=1
  for f in "$tmp"/out/*.h5; do
    h5ls -r "$f" >"$tmp/h5ls" 2>&1 && grep -q "^/images  *Dataset {[0-9]*, 6, 4}" "$tmp/h5ls" || { ok=0; cat "$tmp/h5ls"; }
    h5dump -H -p "$f" >"$tmp/h5dump" 2>&1 && grep -q "CHUNKED ( [0-9]*, 6, 4 )" "$tmp/h5dump" &&
      grep -q "COMPRESSION DEFLATE { LEVEL 4 }" "$tmp/h5dump" || { ok=0; cat "$tmp/h5dump"; }
  done
  [ $ok -eq 1 ] && pass "h5ls -r and h5dump -H read every file" || flunk "h5ls/h5dump"
else
  echo "skipped: h5ls/h5dump (hdf5-tools) not installed"
fi

# The layout through h5py, against the sources.
"$py" - "$tmp/out" "$tmp/good" <<'PY'
import gzip, sys, zlib
import h5py, numpy as np
out, src = sys.argv[1:]
m = dict(l.split(" = ") for l in open(f"{out}/manifest.txt").read().splitlines() if not l.startswith("#"))
assert m["format_version"] == "2" and m["shards"] == "2" and m["seed"] == "9", m
assert (m["rows"], m["cols"], m["train_count"], m["test_count"]) == ("6", "4", "300", "50"), m
assert (m["shard_size.0"], m["shard_size.1"]) == ("150", "150"), m
def raw(name):
    return gzip.open(f"{src}/{name}.gz").read()
crc = {k: zlib.crc32(raw(f)) for k, f in (("train_images", "train-images-idx3-ubyte"),
       ("train_labels", "train-labels-idx1-ubyte"), ("test_images", "t10k-images-idx3-ubyte"),
       ("test_labels", "t10k-labels-idx1-ubyte"))}
images = {"train": np.frombuffer(raw("train-images-idx3-ubyte")[16:], np.uint8).reshape(-1, 6, 4),
          "test": np.frombuffer(raw("t10k-images-idx3-ubyte")[16:], np.uint8).reshape(-1, 6, 4)}
labels = {"train": np.frombuffer(raw("train-labels-idx1-ubyte")[8:], np.uint8),
          "test": np.frombuffer(raw("t10k-labels-idx1-ubyte")[8:], np.uint8)}
seen = []
for name, split, index, count in (("train-00000-of-00002.h5", "train", 0, 2),
                                  ("train-00001-of-00002.h5", "train", 1, 2), ("test.h5", "test", -1, 1)):
    data = open(f"{out}/{name}", "rb").read()
    key = "test_file" if index < 0 else f"shard_file.{index}"
    assert m[key] == f"{len(data)} {zlib.crc32(data):08x}", (key, m[key], len(data))
    with h5py.File(f"{out}/{name}", "r") as f:
        im, lb, gi = f["images"], f["labels"], f["global_indices"][:]
        assert im.dtype == np.uint8 and lb.dtype == np.uint8 and gi.dtype == np.int64
        assert im.chunks == (min(64, im.shape[0]), 6, 4) and im.compression == "gzip" and im.compression_opts == 4
        a = f.attrs
        assert a["id"].decode() == m["id"] and a["shard_index"] == index and a["shard_count"] == count
        assert a["seed"] == 9 and a["format_version"] == 2
        for k, v in crc.items():
            assert a[f"crc32_{k}"] == v and m[f"crc32_{k}"] == f"{v:08x}", (k, a[f"crc32_{k}"], v)
        assert (im[:] == images[split][gi]).all() and (lb[:] == labels[split][gi]).all()
        if split == "train":
            seen += list(gi)
            assert len(set(lb[:])) == 10, name
        else:
            assert (gi == np.arange(50)).all()
assert sorted(seen) == list(range(300))
print("h5py: layout, attributes, CRC32s, file sizes and contents match the sources")
PY
[ $? -eq 0 ] && pass "h5py view" || flunk "h5py view"

"$prep" --version >"$tmp/version" 2>&1 && [ "$(wc -l <"$tmp/version")" -eq 1 ] &&
  grep -qE '^gnet_prepare [^ ]+ \(HDF5 [0-9.]+, zlib [0-9.]+\)$' "$tmp/version" &&
  ! ldd "$prep" | grep -q dnnl &&
  pass "--version: $(cat "$tmp/version"); no oneDNN linked (ldd)" || flunk "--version: $(cat "$tmp/version"); ldd: $(ldd "$prep" | grep dnnl)"

exit $fail
