#!/usr/bin/env bash
# gnet_dist's command line: --help, --print-shapes, and bad input -> exactly one error line
# naming the option or file, nothing on stdout, exit code 2 (options) or 1 (files).
# usage: cli_test.sh GNET_DIST
set -u
bin=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

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
expect_error 2 "no data" --epochs 1
expect_error 2 "--idx and --synthetic" --synthetic 10 --idx /nonexistent
expect_error 1 "/nonexistent" --idx /nonexistent
expect_error 1 "$tmp/missing.h5" --synthetic 10 --eval "$tmp/missing.h5"
expect_error 1 "$tmp/missing.h5" --synthetic 10 --init "$tmp/missing.h5" --max-steps 1
expect_error 1 "$tmp/nodir/ck.h5" --synthetic 16 --batch-size 8 --max-steps 1 --epochs 1 --test-limit 8 --save "$tmp/nodir/ck.h5"
if [ -e "$tmp/nodir" ]; then echo "FAIL: a failed save left $tmp/nodir behind"; fail=1; fi

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
[ $fail -eq 0 ] && echo "cli_test: all passed"
exit $fail
