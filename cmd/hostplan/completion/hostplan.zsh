#compdef hostplan
# zsh completion for hostplan: commands, flags, file names, and the host and group
# names of the inventory given with -i (or $HOSTPLAN_INVENTORY) after --limit and --host.
# Load it with:  source <(hostplan completion zsh)   (after compinit)
# or save it as _hostplan in a directory of $fpath.
#
# hostplan itself decides what to offer: the script passes it the words up to the
# cursor (hostplan __complete WORD...) and offers what it prints, one per line;
# ":files" asks for file names.

_hostplan() {
	local out
	out=$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
	if [[ $out == :files ]]; then
		compset -P '*='
		_files
		return
	fi
	[[ -n $out ]] || return 1
	local -a cands
	cands=("${(@f)out}")
	compadd -- "${cands[@]}"
}

if [[ $funcstack[1] == _hostplan ]]; then
	_hostplan "$@"
else
	compdef _hostplan hostplan
fi
