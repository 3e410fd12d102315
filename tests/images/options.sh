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
[ $fail -eq 0 ] && echo "options: help, --list-options and usage agree for 4 tools"
exit $fail
