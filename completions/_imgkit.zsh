#compdef imginfo imgcheck imgmap imgrepair
# SPDX-License-Identifier: MIT
# _imgkit.zsh --- zsh completion for the imgkit tools, from --list-options.
local -a opts
opts=(${(f)"$(_call_program options $words[1] --list-options 2>/dev/null)"})
_arguments -s "*:image:_files" ${opts/%/[option]}
