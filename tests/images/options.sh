#!/bin/sh
# SPDX-License-Identifier: MIT
# options.sh --- each tool's --help, --list-options and usage agree: every
# option --list-options names is accepted by getopt and shown by --help,
# and bad usage exits 1 with the usage line on stderr.
B=${B:-build}
fail=0
for t in imginfo imgcheck imgmap imgrepair; do
	bin=$B/bin/$t
	help=$("$bin" --help) || { echo "options: $t --help failed"; fail=1; }
	for o in $("$bin" --list-options | cut -f1); do
		case $o in
		--*) echo "$help" | grep -q -- "$o\b" ||
			{ echo "options: $t: $o missing from --help"; fail=1; } ;;
		-?) echo "$help" | grep -q -- "$o," ||
			{ echo "options: $t: $o missing from --help"; fail=1; } ;;
		esac
	done
	"$bin" --no-such-option >/dev/null 2>"${TMPDIR:-/tmp}/opt.$$"
	rc=$?
	if [ $rc -ne 1 ] || ! grep -q "^usage: $t " "${TMPDIR:-/tmp}/opt.$$"; then
		echo "options: $t: bad usage gave exit $rc without the usage line"
		fail=1
	fi
	v=$("$bin" --version)
	case $v in "$t "[0-9]*) ;; *) echo "options: $t --version: '$v'"; fail=1 ;; esac
done
rm -f "${TMPDIR:-/tmp}/opt.$$"

# --color on imgcheck and imgrepair's human output: always, never, and
# auto (colours on a terminal, made here by script(1), unless NO_COLOR).
T=$(mktemp -d "${TMPDIR:-/tmp}/options.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
command -v script >/dev/null 2>&1 ||
    { echo "options: FAIL: script(1) not found (make deps)"; exit 1; }
"$B/tests/bin/qcow2_mk" leak "$T/l.qcow2" ||
    { echo "options: FAIL: qcow2_mk"; exit 1; }
esc=$(printf '\033[')
colored() {	# WANT NAME CMD...: is there an SGR sequence in CMD's output?
	want=$1 name=$2
	shift 2
	if "$@" 2>&1 | grep -qF "$esc"; then got=yes; else got=no; fi
	[ "$got" = "$want" ] ||
	    { echo "options: $name: colour $got, want $want"; fail=1; }
}
for t in "imgcheck" "imgrepair -r leaks --dry-run"; do
	# shellcheck disable=SC2086
	set -- "$B/bin/"$t
	colored yes "$t --color=always" "$@" --color=always "$T/l.qcow2"
	colored yes "$t --color" "$@" --color "$T/l.qcow2"
	colored no "$t --color=never" "$@" --color=never "$T/l.qcow2"
	colored no "$t, auto, a pipe" "$@" "$T/l.qcow2"
	colored yes "$t, auto, a terminal" script -qec "$* $T/l.qcow2" /dev/null
	colored no "$t, auto, NO_COLOR" env NO_COLOR=1 script -qec \
	    "$* $T/l.qcow2" /dev/null
	colored no "$t --color=never, a terminal" script -qec \
	    "$* --color=never $T/l.qcow2" /dev/null
done
[ $fail -eq 0 ] && echo "options: help, --list-options and usage agree for 4 tools; --color as asked"
exit $fail
