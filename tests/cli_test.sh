#!/usr/bin/env bash
# gnet_dist's command line: --help, --print-shapes, and bad input -> exactly one error line
# naming the option or file, nothing on stdout, exit code 2 (options) or 1 (files);
# contradictory options (cli.c's CONFLICTS table) refused naming both, before anything is
# read or written (both on the command line or both in a config file; otherwise the command
# line wins and the file's option is dropped).
# usage: cli_test.sh GNET_DIST
set -u
bin=$1
source "$(dirname "$0")/lib.sh"

expect_error() { # CODE NEEDLE ARGS...
  local code=$1 needle=$2; shift 2
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? lines
  lines=$(wc -l <"$tmp/err")
  if [ $rc -ne "$code" ] || [ "$lines" -ne 1 ] || ! grep -q -- "$needle" "$tmp/err" || [ -s "$tmp/out" ]; then
    echo "FAIL: gnet_dist $* -> rc $rc (want $code), $lines stderr line(s), wanted '$needle':"
    cat "$tmp/err" "$tmp/out"
    fail=1
  else
    echo "ok: $* -> $(cat "$tmp/err")"
  fi
}

expect_error 2 "--batch-size" --synthetic 10 --batch-size 0
expect_error 2 "--batch-size" --synthetic 10 --batch-size abc
expect_error 2 "--lr" --synthetic 10 --lr -0.1
expect_error 2 "--resize" --synthetic 10 --resize 20
expect_error 2 "--epochs" --synthetic 10 --epochs
expect_error 2 "--device" --synthetic 10 --device tpu
expect_error 2 "--bogus" --synthetic 10 --bogus
expect_error 2 "--threads" --synthetic 10 --threads 0
expect_error 2 "--nesterov" --synthetic 10 --nesterov
expect_error 2 "--label-smoothing: '1' is out of range" --synthetic 10 --label-smoothing 1
expect_error 2 "--label-smoothing: '-0.1' is out of range" --synthetic 10 --label-smoothing -0.1
# The resolved options (config.ini's text) carry it.
"$bin" --synthetic 10 --label-smoothing 0.1 --dry-run 2>&1 | grep -qx "label-smoothing = 0.1" ||
  { echo "FAIL: --dry-run does not print label-smoothing = 0.1"; fail=1; }
# Gradient clipping: ranges, one rule at a time, --agc-lambda only with --clip agc.
expect_error 2 "--clip-norm: '0' is out of range" --synthetic 10 --clip-norm 0
expect_error 2 "--clip-norm: '-1' is out of range" --synthetic 10 --clip-norm -1
expect_error 2 "--clip: 'norm' is not one of none, agc" --synthetic 10 --clip norm
expect_error 2 "--agc-lambda: '0' is out of range" --synthetic 10 --clip agc --agc-lambda 0
expect_error 2 "--clip-norm 1: not with --clip agc" --synthetic 10 --clip agc --clip-norm 1
expect_error 2 "--agc-lambda 0.02: only with --clip agc" --synthetic 10 --agc-lambda 0.02
"$bin" --synthetic 10 --clip agc --agc-lambda 0.02 --dry-run 2>&1 | grep -qx "agc-lambda = 0.02" ||
  { echo "FAIL: --dry-run does not print agc-lambda = 0.02"; fail=1; }
expect_error 2 "--optimizer: 'adam' is not one of sgd, lars, adamw, lamb" --synthetic 10 --optimizer adam
expect_error 2 "--adam-beta1: '1' is out of range" --synthetic 10 --optimizer adamw --adam-beta1 1
expect_error 2 "--adam-beta1: '-0.1' is out of range" --synthetic 10 --optimizer adamw --adam-beta1 -0.1
expect_error 2 "--adam-beta2: '1' is out of range" --synthetic 10 --optimizer lamb --adam-beta2 1
expect_error 2 "--adam-eps: '0' is out of range" --synthetic 10 --optimizer adamw --adam-eps 0
expect_error 2 "--adam-eps: 'x' is not a number" --synthetic 10 --optimizer adamw --adam-eps x
expect_error 2 "--momentum: not used by --optimizer adamw" --synthetic 10 --optimizer adamw --momentum 0.9
expect_error 2 "--momentum: not used by --optimizer lamb" --synthetic 10 --optimizer lamb --momentum 0.9
"$bin" --synthetic 10 --optimizer adamw --adam-beta2 0.99 --dry-run 2>&1 | grep -qx "adam-beta2 = 0.99" ||
  { echo "FAIL: --dry-run does not print adam-beta2 = 0.99"; fail=1; }
expect_error 2 "no data" --epochs 1
expect_error 2 "--idx and --synthetic" --synthetic 10 --idx /nonexistent
expect_error 1 "/nonexistent" --idx /nonexistent
expect_error 1 "$tmp/missing.h5" --synthetic 10 --eval "$tmp/missing.h5"
expect_error 1 "$tmp/missing.h5" --synthetic 10 --init "$tmp/missing.h5" --max-steps 1
expect_error 1 "$tmp/nodir/ck.h5" --synthetic 16 --batch-size 8 --max-steps 1 --epochs 1 --test-limit 8 --save "$tmp/nodir/ck.h5"
if [ -e "$tmp/nodir" ]; then echo "FAIL: a failed save left $tmp/nodir behind"; fail=1; fi

# Contradictions: every row of cli.c's CONFLICTS, each pair named, exit 2, nothing created.
# (The files named need not exist: the options are refused before any is opened.)
d=(--synthetic 16 --batch-size 8)
expect_error 2 "--init and --resume conflict" "${d[@]}" --init "$tmp/a.h5" --resume "$tmp/b.h5"
for opt in "--init $tmp/a.h5" "--resume $tmp/b.h5" "--out $tmp/o" "--save $tmp/s.h5" \
           "--checkpoint-every 5" "--checkpoint-epochs 1" "--trace $tmp/t.json"; do
  # shellcheck disable=SC2086 # opt is an option and its value
  expect_error 2 "--eval and ${opt%% *} conflict" "${d[@]}" --eval "$tmp/e.h5" $opt
  # shellcheck disable=SC2086
  expect_error 2 "--print-shapes and ${opt%% *} conflict" --print-shapes $opt
done
expect_error 2 "--print-shapes and --eval conflict" --print-shapes --eval "$tmp/e.h5"
expect_error 2 "--data and --train-limit conflict" --data "$tmp/d" --train-limit 8
expect_error 2 "--data and --test-limit conflict" --data "$tmp/d" --test-limit 8
# Both in one config file: refused. One on the command line, the other only in the file: the
# command line wins and the file's is dropped (a run's config.ini holds its out, init, ...).
printf 'init = %s/a.h5\nresume = %s/b.h5\n' "$tmp" "$tmp" >"$tmp/both.ini"
expect_error 2 "--init and --resume conflict" "${d[@]}" --config "$tmp/both.ini"
printf 'init = %s/a.h5\nout = %s/o\ncheckpoint-epochs = 1\n' "$tmp" "$tmp" >"$tmp/run.ini"
"$bin" "${d[@]}" --config "$tmp/run.ini" --resume "$tmp/b.h5" --dry-run >"$tmp/dry1" 2>&1 &&
  grep -qx "; init: not set" "$tmp/dry1" && grep -qx "resume = $tmp/b.h5" "$tmp/dry1" && grep -qx "out = $tmp/o" "$tmp/dry1" ||
  { echo "FAIL: --resume on the command line does not win over the file's init"; cat "$tmp/dry1"; fail=1; }
"$bin" "${d[@]}" --config "$tmp/run.ini" --eval "$tmp/e.h5" --dry-run >"$tmp/dry2" 2>&1 &&
  grep -qx "; init: not set" "$tmp/dry2" && grep -qx "; out: not set" "$tmp/dry2" &&
  grep -qx "; checkpoint-epochs: not set" "$tmp/dry2" && grep -qx "eval = $tmp/e.h5" "$tmp/dry2" ||
  { echo "FAIL: --eval on the command line does not win over the file's init, out, checkpoint-epochs"; cat "$tmp/dry2"; fail=1; }
if [ -e "$tmp/o" ] || [ -e "$tmp/s.h5" ] || [ -e "$tmp/t.json" ]; then
  echo "FAIL: a refused combination created an output"; fail=1
fi
# Not contradictions: --save with --out, --dry-run with anything.
"$bin" "${d[@]}" --out "$tmp/o" --save "$tmp/s.h5" --checkpoint-every 5 --dry-run >/dev/null 2>&1 ||
  { echo "FAIL: --out with --save (and --checkpoint-every) refused"; fail=1; }

if ! "$bin" --help | grep -q -- "--batch-size"; then echo "FAIL: --help does not list options"; fail=1; fi

"$bin" --print-shapes --resize 96 >"$tmp/shapes96" || fail=1
for want in "b1     output 64x24x24" "b2     output 192x12x12" "b3     output 480x6x6" \
            "b4     output 832x3x3" "b5     output 1024" "linear output 10" "parameters 5,977,530"; do
  grep -qx -- "$want" "$tmp/shapes96" || { echo "FAIL: --print-shapes --resize 96 lacks '$want'"; cat "$tmp/shapes96"; fail=1; }
done
"$bin" --print-shapes >"$tmp/shapes28" || fail=1
for want in "b1     output 64x7x7" "b4     output 832x1x1" "b5     output 1024" "parameters 5,977,530"; do
  grep -qx -- "$want" "$tmp/shapes28" || { echo "FAIL: --print-shapes (28x28) lacks '$want'"; cat "$tmp/shapes28"; fail=1; }
done
# --version: one line naming the source's version and every library's, exit 0; the same line
# heads a run's log.txt.
"$bin" --version >"$tmp/version" 2>&1
rc=$?
if [ $rc -ne 0 ] || [ "$(wc -l <"$tmp/version")" -ne 1 ] ||
   ! grep -qE '^gnet_dist [^ ]+ \(HDF5 [0-9.]+, zlib [0-9.]+\), oneDNN [0-9.]+, .*MPI.*, CUDA (on|off)' "$tmp/version"; then
  echo "FAIL: --version (rc $rc):"; cat "$tmp/version"; fail=1
else
  echo "ok: $(cat "$tmp/version")"
fi
"$bin" --synthetic 16 --batch-size 8 --epochs 1 --threads 1 --test-limit 8 --no-progress --out "$tmp/vrun" >/dev/null 2>&1
[ "$(head -n1 "$tmp/vrun/log.txt")" = "$(cat "$tmp/version")" ] ||
  { echo "FAIL: log.txt does not start with the --version line:"; head -n2 "$tmp/vrun/log.txt"; fail=1; }
[ $fail -eq 0 ] && echo "cli_test: all passed"
exit $fail
