#!/bin/sh
# SPDX-License-Identifier: MIT
# hostile.sh --- mutated images of every format must not crash, hang or
# bloat the tools, and every exit 1 must say why (tests/hostile/hostile.py).
#
# make check runs 200 mutants per format on the plain build; make
# check-hostile runs N=2000 on the sanitized one (build/san).  This wrapper
# checks for python3, makes a fresh temporary directory and removes it
# afterwards.  Env: B, N (mutants per format, default 200), SEED, KEEP
# (where reproducers go), JOBS, V=1.  qcow2 and QED need qemu-img and
# qemu-io; without them, or without python3, the test fails.
B=${B:-build}
N=${N:-200}
export B N
if ! command -v python3 >/dev/null 2>&1; then
	echo "hostile.sh: FAIL: python3 not found (make deps)" >&2
	exit 1
fi
for t in a7_mut a7_mk sparse_mk qcow2_mk; do
	if [ ! -x "$B/tests/bin/$t" ]; then
		echo "hostile.sh: FAIL: $B/tests/bin/$t not built" >&2
		exit 1
	fi
done
here=$(dirname "$0")
T=$(mktemp -d "${TMPDIR:-/tmp}/hostile.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
python3 "$here/../hostile/hostile.py" "$T"
