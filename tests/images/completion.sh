#!/bin/sh
# SPDX-License-Identifier: MIT
# completion.sh --- the bash and zsh completions against the tools'
# option tables.
#
# bash: completions/imgkit.bash is sourced and _imgkit is called as bash
# calls it (COMP_WORDS split at '=' as readline splits them); COMPREPLY
# must hold every option --list-options names, the values of -f, -r and
# --output, image files by suffix and directories, any file for FILE
# arguments and nothing for numbers.  zsh (where installed): an
# interactive zsh in a pseudo-terminal (zsh/zpty) loads _imgkit with
# compinit and must list the same things after a TAB.
B=${B:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
here=$(cd "$(dirname "$0")/../.." && pwd)
fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/completion.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
mkdir "$T/d" "$T/d/sub"
: > "$T/d/a.qcow2"
: > "$T/d/b.txt"
: > "$T/d/c.QED"
: > "$T/d/full.data"

if ! command -v bash >/dev/null 2>&1; then
	echo "completion: FAIL: bash not found" >&2
	exit 1
fi
# The formats libcore knows, as -f must offer them.
fmts=$("$B/bin/imgcheck" --list-options | awk -F '\t' '$1 == "-f" { print $2 }' |
    tr '|' ' ')
case " $fmts " in *" qcow2 "*" raw "*) ;; *)
	echo "completion: FAIL: imgcheck --list-options: -f offers '$fmts'"
	fail=1 ;;
esac

PATH=$B/bin:$PATH bash --norc --noprofile -c '
fail=0
. "$1/completions/imgkit.bash"
cd "$2/d" || exit 1
# comp WORD...: complete the last word; COMPREPLY sorted, one a line.
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMPREPLY=()
	_imgkit "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
	printf "%s\n" "${COMPREPLY[@]}" | sort
}
# want WANT WORD...: the completions of WORD... are exactly WANT.
want() {
	local w=$1 got
	shift
	got=$(comp "$@" | tr "\n" " ")
	if [ "$got" != "$w " ]; then
		echo "completion: FAIL: bash: [$*]: got [$got], want [$w ]"
		fail=1
	fi
}
want "--output" imgcheck --outp
want "human json" imgcheck --output =
want "json" imgcheck --output = j
want "json" imgcheck --output=j
want "archive7 qcow2 qed raw sparsestream" imgcheck -f ""
want "qcow2 qed" imgcheck --format = q
want "all leaks" imgrepair -r ""
want "leaks" imgrepair --repair = l
want "" imgcheck --jobs ""
want "" imgcheck -j ""
want "a.qcow2 c.QED full.data sub" imgcheck ""
want "a.qcow2 c.QED full.data sub" imginfo -f qcow2 ""
want "a.qcow2" imgmap a
want "b.txt" imgcheck b
want "a.qcow2 b.txt c.QED full.data sub" imgmap -o ""
want "a.qcow2 b.txt c.QED full.data sub" imgcheck --key-file = ""
want "a.qcow2 c.QED full.data sub" imgmap --extract ""
# Every option of every tool, and nothing else.
for t in imginfo imgcheck imgmap imgrepair; do
	all=$("$t" --list-options | cut -f1 | sort | tr "\n" " ")
	got=$(comp "$t" - | tr "\n" " ")
	if [ "$got" != "$all" ]; then
		echo "completion: FAIL: bash: $t -<TAB>: [$got], want [$all]"
		fail=1
	fi
done
exit $fail
' sh "$here" "$T" || fail=1

shells=bash
if command -v zsh >/dev/null 2>&1; then
	shells="bash and zsh"
	mkdir "$T/fpath"
	cp "$here/completions/_imgkit.zsh" "$T/fpath/_imgkit"
	cat > "$T/z.zsh" <<'EOF'
# try WANT NOTWANT INPUT: in a new interactive zsh, TAB after INPUT lists
# every word of WANT and none of NOTWANT.  A shell per try: no state
# (typeahead, a pending listing) passes from one try to the next.
zmodload zsh/zpty || { print "completion: FAIL: no zsh/zpty"; exit 1 }
fail=0
# drain WORD: read what zsh wrote until WORD shows (20 s at most: a busy
# machine, sanitized tools); escapes removed, in REPLY.
drain() {
	local line out=""
	local -i i
	for (( i = 0; i < 400; i++ )); do
		while zpty -r -t z line; do out+=$line; done
		[[ ${out//$'\e'\[[0-9;?]#[a-zA-Z]/} == *$1* ]] && break
		sleep 0.05
	done
	REPLY=${out//$'\e'\[[0-9;?]#[a-zA-Z]/}
}
try() {
	local w
	local -a want
	zpty z zsh -f -i
	# READY$((6*7)) prints READY42 only once compinit is done.
	zpty -w z "PS1='ZQ%#'; fpath=($FP \$fpath); autoload -Uz compinit; \
compinit -u -D; PATH=$BIN:\$PATH; cd $DIR; unsetopt beep; \
print READY\$((6*7))"
	drain READY42
	[[ $REPLY == *READY42*ZQ\#* ]] || drain "ZQ#"
	zpty -w -n z "$3"$'\t'
	want=(${(z)1})
	drain "$want[-1]"
	for w in ${(z)1}; do
		[[ $REPLY == *$w* ]] && continue
		print -r "completion: FAIL: zsh: [$3]: no '$w' in: ${(q+)REPLY}"
		fail=1
	done
	for w in ${(z)2}; do
		[[ $REPLY == *$w* ]] || continue
		print -r "completion: FAIL: zsh: [$3]: '$w' in: $REPLY"
		fail=1
	done
	zpty -d z
}
try "human json" "a.qcow2" "imgcheck --output="
try "archive7 qcow2 qed raw sparsestream" "b.txt" "imgcheck -f "
try "all leaks" "a.qcow2" "imgrepair -r "
try "a.qcow2 c.QED full.data sub/" "b.txt" "imgcheck "
try "--list-problems" "" "imgcheck --list-p"
try "--max-length" "--chain" "imgmap --max-l"
exit $fail
EOF
	FP=$T/fpath BIN=$B/bin DIR=$T/d HOME=$T timeout 60 zsh -f "$T/z.zsh" ||
	    fail=1
else
	echo "completion: zsh not installed: its completion not tested"
fi

if [ $fail -ne 0 ]; then
	echo "completion: FAIL" >&2
	exit 1
fi
echo "completion: $shells complete options, values and images from the" \
    "option tables"
