# SPDX-License-Identifier: MIT
# imgkit.bash --- bash completion for imginfo, imgcheck, imgmap, imgrepair.
#
# Everything comes from each tool's hidden --list-options, made from its
# option table, so the completion never drifts from the tool: one option a
# line, a tab, its argument ("qcow2|qed|..." for a few values, FILE, N,
# "[WHAT]" when optional, empty for none), a tab, its help.  Image
# arguments complete to files with an image suffix and to directories,
# or to any file when no image matches.

# _imgkit_arg TABLE OPTION: the argument OPTION takes, per TABLE.
_imgkit_arg()
{
	local line
	while IFS= read -r line; do
		if [[ ${line%%$'\t'*} == "$2" ]]; then
			line=${line#*$'\t'}
			printf '%s\n' "${line%%$'\t'*}"
			return 0
		fi
	done <<< "$1"
	return 1
}

# _imgkit_values ARG CUR: COMPREPLY for an option's argument.
_imgkit_values()
{
	local IFS=$'\n'
	case $1 in
	*'|'*)
		COMPREPLY=($(compgen -W "${1//|/$'\n'}" -- "$2")) ;;
	FILE)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$2")) ;;
	*)
		COMPREPLY=() ;;
	esac
}

_imgkit()
{
	local cur prev opt arg table ext
	local IFS=$'\n'
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	table=$("$1" --list-options 2>/dev/null)

	# --opt=value: one word, or three when '=' breaks words.
	if [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		cur=${cur#*=}
	elif [[ $cur == = && $prev == --* ]]; then
		opt=$prev
		cur=
	elif [[ $prev == = && $COMP_CWORD -ge 2 &&
	    ${COMP_WORDS[COMP_CWORD-2]} == --* ]]; then
		opt=${COMP_WORDS[COMP_CWORD-2]}
	elif [[ $prev == -* ]]; then
		# A separate argument, unless it is optional ("[WHAT]").
		arg=$(_imgkit_arg "$table" "$prev")
		if [[ -n $arg && $arg != \[* ]]; then
			_imgkit_values "$arg" "$cur"
			return 0
		fi
	fi
	if [[ -n $opt ]]; then
		arg=$(_imgkit_arg "$table" "$opt")
		arg=${arg#\[}
		_imgkit_values "${arg%\]}" "$cur"
		return 0
	fi

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(cut -f1 <<< "$table")" -- "$cur"))
		return 0
	fi

	# Images: by suffix, with directories to walk into.
	compopt -o filenames 2>/dev/null
	ext='qcow2|qcow|qed|img|raw|bin|data|ar7|iso|dsk'
	COMPREPLY=($(compgen -f -- "$cur" | grep -iE "\\.($ext)\$"; \
	    compgen -d -- "$cur"))
	if [[ ${#COMPREPLY[@]} -eq 0 ]]; then
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
	return 0
}
complete -F _imgkit imginfo imgcheck imgmap imgrepair
