#!/usr/bin/env bash
# gnet_dist --config: a valid file (sections, comments, indentation, every kind of value), the
# command line winning over the file whatever the order, --dry-run's output read back as a
# config, every error (exactly one stderr line naming file:line and key, nothing on stdout,
# exit code 2), and every file in configs/ passing --dry-run.
# usage: config_test.sh GNET_DIST CONFIGS_DIR
set -u
bin=$(realpath "$1")
configs=$(realpath "$2")
source "$(dirname "$0")/lib.sh"

# The resolved value of KEY in a --dry-run output FILE.
value() { sed -n "s/^$1 = //p" "$2"; }

expect_value() { # FILE KEY WANT
  local got
  got=$(value "$2" "$1")
  if [ "$got" != "$3" ]; then echo "FAIL: $2 = '$got', want '$3'"; cat "$1"; fail=1; fi
}

dry_run() { # OUT ARGS...
  local out=$1; shift
  if ! "$bin" --dry-run "$@" >"$out" 2>"$tmp/err" || [ -s "$tmp/err" ]; then
    echo "FAIL: gnet_dist --dry-run $* failed:"; cat "$tmp/err"; fail=1
  fi
}

expect_error() { # NEEDLE ARGS...
  local needle=$1; shift
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? lines
  lines=$(wc -l <"$tmp/err")
  if [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$needle" "$tmp/err" || [ -s "$tmp/out" ]; then
    echo "FAIL: gnet_dist $* -> rc $rc (want 2), $lines stderr line(s), wanted '$needle':"
    cat "$tmp/err" "$tmp/out"
    fail=1
  else
    echo "ok: $(cat "$tmp/err")"
  fi
}

# A valid file: keys before any section and under [train], comments, an inline comment,
# indentation, CRLF line ends, flags spelt every way.
printf '; a comment\n# another\nseed = 7\n[train]\n  batch-size = 128   ; inline comment\n\tlr = 0.1\r\nno-shuffle = yes\ndrop-last = True\nnesterov = 0\nmomentum = 0.9\ndata = %s/some dir\nlr-schedule = cosine\nwarmup-epochs = 2\nlr-scale = linear\n' \
  "$tmp" >"$tmp/ok.ini"
dry_run "$tmp/ok.out" --config "$tmp/ok.ini"
expect_value "$tmp/ok.out" seed 7
expect_value "$tmp/ok.out" batch-size 128
expect_value "$tmp/ok.out" lr 0.1
expect_value "$tmp/ok.out" no-shuffle true
expect_value "$tmp/ok.out" drop-last true
expect_value "$tmp/ok.out" nesterov false
expect_value "$tmp/ok.out" data "$tmp/some dir"
expect_value "$tmp/ok.out" lr-schedule cosine
expect_value "$tmp/ok.out" epochs 10
grep -qx "; peak learning rate 0.05 (lr-scale linear, base-batch 256)" "$tmp/ok.out" ||
  { echo "FAIL: peak lr of 0.1 x 128/256"; cat "$tmp/ok.out"; fail=1; }

# The command line wins, before or after --config.
dry_run "$tmp/cli1.out" --batch-size 32 --config "$tmp/ok.ini" --data /elsewhere
dry_run "$tmp/cli2.out" --config "$tmp/ok.ini" --batch-size 32 --data /elsewhere
for out in "$tmp/cli1.out" "$tmp/cli2.out"; do
  expect_value "$out" batch-size 32
  expect_value "$out" data /elsewhere
  expect_value "$out" lr 0.1
done
# A data source on the command line replaces the file's, whichever it is (quickstart.ini names
# idx): --dry-run shows only it. Two on the command line, or two in one file (whatever the
# command line says), are refused.
for src in "data $tmp/d" "idx $tmp/i" "synthetic 50"; do
  # shellcheck disable=SC2086 # src is an option and its value
  dry_run "$tmp/src.out" --config "$configs/quickstart.ini" --${src% *} ${src#* }
  expect_value "$tmp/src.out" "${src% *}" "${src#* }"
  for key in data idx synthetic; do
    [ "$key" = "${src% *}" ] || grep -qx "; $key: not set" "$tmp/src.out" ||
      { echo "FAIL: --${src% *} on the command line leaves the file's $key"; cat "$tmp/src.out"; fail=1; }
  done
done
expect_error "--data and --synthetic conflict: give only one data source" \
  --config "$configs/quickstart.ini" --synthetic 50 --data "$tmp/d"
printf 'idx = %s/i\nsynthetic = 50\n' "$tmp" >"$tmp/two_sources.ini"
expect_error "--idx and --synthetic conflict: give only one data source" --config "$tmp/two_sources.ini"
expect_error "--idx and --synthetic conflict: give only one data source" \
  --config "$tmp/two_sources.ini" --data "$tmp/d"

# A bad value in the file is an error even when the command line overrides it.
printf 'batch-size = 0\n' >"$tmp/bad_overridden.ini"
expect_error "$tmp/bad_overridden.ini:1: batch-size: '0' is out of range (1 to 65536)" \
  --config "$tmp/bad_overridden.ini" --batch-size 8 --synthetic 10

# --dry-run writes a config that reads back to the same options.
sed 1d "$tmp/cli1.out" >"$tmp/resolved.ini"
dry_run "$tmp/resolved.out" --config "$tmp/resolved.ini"
if ! diff <(sed 1d "$tmp/cli1.out") <(sed 1d "$tmp/resolved.out"); then
  echo "FAIL: --dry-run's output does not read back to the same options"; fail=1
fi

# Errors: one line naming the file, the line and the key.
bad() { # NAME CONTENT NEEDLE: the file NAME holding CONTENT fails with NEEDLE
  printf -- "$2" >"$tmp/$1"
  expect_error "$tmp/$1:$3" --config "$tmp/$1"
}
bad range.ini      'data = x\n[train]\nbatch-size = 0\n'  "3: batch-size: '0' is out of range (1 to 65536)"
bad nan.ini        'data = x\nlr = fast\n'                "2: lr: 'fast' is not a number"
bad int.ini        'data = x\nepochs = 2.5\n'             "2: epochs: '2.5' is not an integer"
bad flag.ini       'data = x\nno-shuffle = maybe\n'       "2: no-shuffle: 'maybe' is not one of true, false, yes, no, 1, 0"
bad choice.ini     'data = x\nlr-schedule = linear\n'     "2: lr-schedule: 'linear' is not one of constant, step, cosine"
bad device.ini     'data = x\ndevice = tpu\n'             "2: device: 'tpu' is not one of cpu, cuda, auto"
bad empty.ini      'data =\n'                             "1: data: '' is empty"
bad unknown.ini    'data = x\n\nbatch_size = 8\n'         "3: batch_size: unknown key"
bad dashes.ini     '--lr = 0.1\n'                         "1: --lr: unknown key"
bad dup.ini        'lr = 0.1\n[train]\nlr = 0.2\n'        "3: lr: duplicate key (first on line 1)"
bad section.ini    '[train]\nlr = 0.1\n[data]\ndata = x\n' "4: data: in section [data]"
bad nested.ini     'config = other.ini\n'                 "1: config: only allowed on the command line"
bad dry.ini        'dry-run = true\n'                     "1: dry-run: only allowed on the command line"
bad syntax.ini     'data = x\nlr 0.1\n'                   "2: not a 'key = value' or '[section]' line"
bad bracket.ini    '[train\nlr = 0.1\n'                   "1: not a 'key = value' or '[section]' line"
bad nul.ini        'data = x\nlr = 0.0\0005\n'          "2: control character 0x00 in column 9: a config file is text"
bad escape.ini     'data = x\n\nseed = 1\033[2J\n'       "3: control character 0x1b in column 9: a config file is text"
# The first error wins: a bad line before a bad value, a bad value before a bad line.
bad first1.ini     'seed = 1\nwhat\nlr = -1\n'            "2: not a 'key = value'"
bad first2.ini     'lr = -1\nwhat\n'                      "1: lr: '-1' is out of range"
long=$(printf 'x%.0s' $(seq 300))
bad long.ini       "data = x\nsave = $long\n"             "2: line longer than 198 characters"
expect_error "$tmp/missing.ini: cannot open the config file" --config "$tmp/missing.ini"
mkdir "$tmp/dir.ini"
expect_error "$tmp/dir.ini: cannot read the config file" --config "$tmp/dir.ini"
expect_error "--config: missing value" --synthetic 10 --config
expect_error "--batch-size: '12\\x1b[31mX' is not an integer" --synthetic 10 --batch-size $'12\x1b[31mX'
# Errors across keys name the options, wherever they were set.
printf 'lr-schedule = step\n' >"$tmp/step.ini"
expect_error "--lr-schedule step: needs --lr-step-epochs N" --synthetic 10 --config "$tmp/step.ini"
expect_error "--warmup-epochs 10: must be less than --epochs 10" --synthetic 10 --warmup-epochs 10
expect_error "--warmup-steps 5: give it or --warmup-epochs 1, not both" --synthetic 10 --warmup-steps 5 --warmup-epochs 1
expect_error "--lr-min 0.1: above the peak learning rate 0.05" --synthetic 10 --lr-schedule cosine --lr-min 0.1
expect_error "--batch-size 10 is not divisible by 1 rank(s) x 4 accumulation step(s)" \
  --synthetic 10 --batch-size 10 --accum-steps 4 --dry-run

# Every shipped config is valid and complete.
n=0
while IFS= read -r f; do
  dry_run "$tmp/shipped.out" --config "$f"
  n=$((n + 1))
done < <(find "$configs" -name '*.ini' | sort)
[ "$n" -ge 9 ] || { echo "FAIL: found $n configs in $configs, want >= 9"; fail=1; }
echo "checked $n files in $configs with --dry-run"

# configs/quickstart.ini is usable from anywhere: run from another directory with --out, its
# run (checkpoint included) lands in the run directory and nothing else is created there.
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  mkdir "$tmp/elsewhere"
  (cd "$tmp/elsewhere" && "$bin" --config "$configs/quickstart.ini" --out run --max-steps 2 --threads 1 \
     --train-limit 256 --test-limit 64 --no-progress >"$tmp/qs.out" 2>&1)
  rc=$?
  if [ $rc -ne 0 ] || [ ! -f "$tmp/elsewhere/run/checkpoint.h5" ] || [ "$(ls "$tmp/elsewhere")" != run ]; then
    echo "FAIL: quickstart.ini from another directory (rc $rc): $(ls -R "$tmp/elsewhere" | tr '\n' ' ')"; cat "$tmp/qs.out"; fail=1
  else
    echo "ok: quickstart.ini from another directory: $(ls "$tmp/elsewhere/run" | tr '\n' ' ')"
  fi
else
  echo "skip: quickstart.ini run (no /usr/share/datasets/fashion-mnist)"
fi

[ $fail -eq 0 ] && echo "config_test: all passed"
exit $fail
