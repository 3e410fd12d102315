# SPDX-License-Identifier: MIT
# imgkit.bash --- bash completion for imginfo, imgcheck, imgmap, imgrepair.
# The option lists come from each tool's hidden --list-options, so they
# never drift from the option tables.
_imgkit()
{
	local cur prev opts
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-f|--format)
		COMPREPLY=($(compgen -W "qcow2 qed sparsestream archive7" -- "$cur"))
		return ;;
	--output)
		COMPREPLY=($(compgen -W "human json" -- "$cur"))
		return ;;
	-r|--repair)
		COMPREPLY=($(compgen -W "leaks all" -- "$cur"))
		return ;;
	esac
	if [[ $cur == -* ]]; then
		opts=$("$1" --list-options 2>/dev/null)
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _imgkit imginfo imgcheck imgmap imgrepair
