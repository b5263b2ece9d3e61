# bash completion for hostplan: commands, flags, file names, and the host and group
# names of the inventory given with -i (or $HOSTPLAN_INVENTORY) after --limit and --host.
# Load it with:  source <(hostplan completion bash)
# or save it as /etc/bash_completion.d/hostplan. Needs bash 4 or later (compopt, mapfile).
#
# hostplan itself decides what to offer: the script passes it the words up to the
# cursor (hostplan __complete WORD...) and offers what it prints, one per line;
# ":files" asks for file names.

_hostplan() {
	local line=${COMP_LINE:0:COMP_POINT}
	local -a words
	read -r -a words <<<"$line"
	if [[ -z $line || $line == *[[:space:]] ]]; then
		words+=("")
	fi
	local cur=${words[${#words[@]}-1]} prog=${words[0]/#\~/$HOME} out
	out=$("$prog" __complete "${words[@]:1}" 2>/dev/null) || return 0
	COMPREPLY=()
	if [[ $out == :files ]]; then
		compopt -o default
		return 0
	fi
	[[ -n $out ]] || return 0
	mapfile -t COMPREPLY <<<"$out"
	# bash replaces only the part of the word after its last word break (: and = by
	# default): drop what comes before it from the candidates.
	local breaks=""
	[[ $COMP_WORDBREAKS == *:* ]] && breaks+=":"
	[[ $COMP_WORDBREAKS == *=* ]] && breaks+="="
	if [[ -n $breaks && $cur == *["$breaks"]* ]]; then
		local head=${cur%"${cur##*["$breaks"]}"}
		COMPREPLY=("${COMPREPLY[@]#"$head"}")
	fi
}

complete -F _hostplan hostplan
