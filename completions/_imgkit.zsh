#compdef imginfo imgcheck imgmap imgrepair
# SPDX-License-Identifier: MIT
# _imgkit --- zsh completion for the imgkit tools.
#
# The option specs come from each tool's hidden --list-options, made from
# its option table: one option a line, a tab, its argument ("qcow2|qed|..."
# for a few values, FILE, N, "[WHAT]" when optional, empty for none), a
# tab, its help.  Image arguments complete to files with an image suffix.

# _imgkit_specs TOOL: _arguments specs for TOOL's options, in reply.
_imgkit_specs() {
	local line opt arg help msg act
	reply=()
	for line in ${(f)"$(_call_program options ${(q)1} --list-options \
	    2>/dev/null)"}; do
		opt=${line%%$'\t'*}
		line=${line#*$'\t'}
		arg=${line%%$'\t'*}
		help=${line#*$'\t'}
		help=${${${help//\\/\\\\}//\[/\\[}//\]/\\]}
		case $arg in
		'')
			reply+=("${opt}[$help]") ;;
		\[*'|'*\])
			arg=${${arg#\[}%\]}
			reply+=("${opt}=-[$help]:value:(${arg//|/ })") ;;
		\[*\])
			reply+=("${opt}=-[$help]:${${arg#\[}%\]}:") ;;
		*'|'*)
			msg=value act="(${arg//|/ })" ;|
		FILE)
			msg=file act=_files ;|
		*'|'*|FILE)
			if [[ $opt == --* ]]; then
				reply+=("${opt}=[$help]:$msg:$act")
			else
				reply+=("${opt}+[$help]:$msg:$act")
			fi ;;
		*)
			if [[ $opt == --* ]]; then
				reply+=("${opt}=[$help]:$arg: ")
			else
				reply+=("${opt}+[$help]:$arg: ")
			fi ;;
		esac
	done
}

_imgkit() {
	local -a reply
	_imgkit_specs $words[1]
	_arguments -s -S $reply \
	    '*:image:_files -g "*.(#i)(qcow2|qcow|qed|img|raw|bin|data|ar7|iso|dsk)(-.)"'
}

_imgkit "$@"
