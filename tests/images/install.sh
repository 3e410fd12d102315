#!/bin/sh
# SPDX-License-Identifier: MIT
# install.sh --- make install DESTDIR=... puts every file where Debian's
# tools look for it, and make uninstall takes them all away again.
#
# The binaries run from BINDIR; man finds the pages; bash-completion's
# loader finds the completion of each tool by its name (XDG_DATA_DIRS);
# zsh's compinit finds _imgkit on its fpath (where zsh is installed);
# pkg-config finds imgkit.pc, and a program built with its flags links
# libimgkit.a and runs.  PREFIX, BINDIR and MANDIR move what they name.
B=${B:-build}
MAKE=${MAKE:-make}
fail=0
bad() { echo "install: FAIL: $*"; fail=$((fail + 1)); }
T=$(mktemp -d "${TMPDIR:-/tmp}/install.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
R=$T/root
P=$R/usr/local
TOOLS="imginfo imgcheck imgmap imgrepair"
# Install what make check built (build, or build/san with SAN=1).
san="B=$B"
sanflags=
case $B in */san)
	san="B=$B SAN=1"
	sanflags="-fsanitize=address,undefined" ;;
esac

if ! $MAKE -s --no-print-directory $san install DESTDIR="$R" \
    >"$T/log" 2>&1; then
	cat "$T/log"
	echo "install: FAIL: make install DESTDIR=$R" >&2
	exit 1
fi

# Binaries on PATH.
for t in $TOOLS; do
	v=$(PATH=$P/bin "$t" --version 2>&1) ||
	    bad "$t not found in \$PREFIX/bin"
	case $v in "$t "[0-9]*) ;; *) bad "$t --version: '$v'" ;; esac
done

# Man pages: where man(1) looks, and mandoc reads them.
for p in man1/imginfo.1 man1/imgcheck.1 man1/imgmap.1 man1/imgrepair.1 \
    man7/imgkit-problems.7; do
	[ -f "$P/share/man/$p" ] || bad "no $p under \$PREFIX/share/man"
done
if command -v man >/dev/null 2>&1; then
	for n in imgcheck imgkit-problems; do
		w=$(MANPATH=$P/share/man man -w "$n" 2>/dev/null)
		case $w in "$P/share/man/"*) ;; *)
			bad "man -w $n: '$w'" ;; esac
	done
fi

# bash-completion's loader, as an interactive shell would run it.
bc=/usr/share/bash-completion/bash_completion
if [ -f "$bc" ] && command -v bash >/dev/null 2>&1; then
	for t in $TOOLS; do
		out=$(XDG_DATA_DIRS=$P/share bash -c '
			. "$1"
			__load_completion "$2" && complete -p "$2"' sh "$bc" "$t" \
		    2>&1)
		case $out in *"-F _imgkit"*"$t") ;; *)
			bad "bash-completion does not load $t's completion:" \
			    "$out" ;; esac
	done
else
	bad "$bc not found (make deps installs bash-completion)"
fi

# zsh: compinit finds _imgkit for every tool.
if command -v zsh >/dev/null 2>&1; then
	out=$(HOME=$T zsh -f -c '
		fpath=("$1" $fpath)
		autoload -Uz compinit && compinit -u -D
		for t in imginfo imgcheck imgmap imgrepair; do
			print -r -- "$t=${_comps[$t]}"
		done' zsh "$P/share/zsh/site-functions" 2>&1)
	for t in $TOOLS; do
		echo "$out" | grep -qx "$t=_imgkit" ||
		    bad "zsh compinit: $t is not completed by _imgkit: $out"
	done
fi

# pkg-config, and a program that embeds libcore.
if command -v pkg-config >/dev/null 2>&1; then
	export PKG_CONFIG_SYSROOT_DIR="$R"
	export PKG_CONFIG_LIBDIR="$P/lib/pkgconfig:/usr/lib/pkgconfig:/usr/share/pkgconfig:/usr/lib/$(${CC:-cc} -dumpmachine 2>/dev/null)/pkgconfig"
	if flags=$(pkg-config --cflags --libs imgkit 2>&1); then
		cat > "$T/embed.c" <<'EOF'
#include <stdio.h>
#include <libcore.h>

int
main(void)
{
	const char *const	*n = img_format_names();

	for (; *n != NULL; n++)
		printf("%s\n", *n);
	printf("%s\n", pr_info_get((enum pr_id)0)->name);
	return 0;
}
EOF
		# shellcheck disable=SC2086
		if ${CC:-cc} $sanflags -o "$T/embed" "$T/embed.c" $flags \
		    2>"$T/cc.err"
		then
			"$T/embed" > "$T/embed.out" 2>&1
			grep -qx qcow2 "$T/embed.out" &&
			    grep -qx core-io-error "$T/embed.out" ||
			    bad "the embedding program: $(cat "$T/embed.out")"
		else
			bad "cannot build with pkg-config imgkit:" \
			    "$(head -5 "$T/cc.err")"
		fi
	else
		bad "pkg-config --cflags --libs imgkit: $flags"
	fi
	unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
else
	bad "pkg-config not found (make deps)"
fi

# make uninstall leaves no file behind.
$MAKE -s --no-print-directory $san uninstall DESTDIR="$R" >"$T/log" 2>&1 ||
    bad "make uninstall: $(cat "$T/log")"
left=$(find "$R" ! -type d | head -5)
[ -z "$left" ] || bad "make uninstall left: $left"

# PREFIX, BINDIR and MANDIR.
R2=$T/r2
$MAKE -s --no-print-directory $san install DESTDIR="$R2" PREFIX=/opt/ik \
    BINDIR=/opt/ik/sbin MANDIR=/opt/ik/man >"$T/log" 2>&1 ||
    bad "make install PREFIX=/opt/ik: $(tail -3 "$T/log")"
for f in sbin/imgcheck man/man1/imgcheck.1 man/man7/imgkit-problems.7 \
    lib/libimgkit.a include/imgkit/libcore.h lib/pkgconfig/imgkit.pc \
    share/bash-completion/completions/imgcheck \
    share/zsh/site-functions/_imgkit share/imgkit/schema/check.json; do
	[ -e "$R2/opt/ik/$f" ] || bad "PREFIX=/opt/ik: no $f"
done
grep -qx 'prefix=/opt/ik' "$R2/opt/ik/lib/pkgconfig/imgkit.pc" 2>/dev/null ||
    bad "imgkit.pc does not say prefix=/opt/ik"
$MAKE -s --no-print-directory $san uninstall DESTDIR="$R2" PREFIX=/opt/ik \
    BINDIR=/opt/ik/sbin MANDIR=/opt/ik/man >/dev/null 2>&1
left=$(find "$R2" ! -type d | head -5)
[ -z "$left" ] || bad "make uninstall PREFIX=/opt/ik left: $left"

if [ $fail -ne 0 ]; then
	echo "install: $fail checks failed" >&2
	exit 1
fi
echo "install: binaries, man pages, completions, libcore and imgkit.pc" \
    "where Debian looks; uninstall removes them"
