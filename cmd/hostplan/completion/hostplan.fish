# fish completion for hostplan: commands, flags, file names, and the host and group
# names of the inventory given with -i (or $HOSTPLAN_INVENTORY) after --limit and --host.
# Load it with:  hostplan completion fish | source
# or save it as ~/.config/fish/completions/hostplan.fish.
#
# hostplan itself decides what to offer: the script passes it the words up to the
# cursor (hostplan __complete WORD...) and offers what it prints, one per line;
# ":files" asks for file names.

function __hostplan_complete
    set -l words (commandline -opc)
    set -l prog $words[1]
    set -e words[1]
    set -l cur (commandline -ct)
    set -l out ($prog __complete $words "$cur" 2>/dev/null)
    if test "$out" = ":files"
        __fish_complete_path "$cur"
        return
    end
    printf '%s\n' $out
end

complete -c hostplan -f -a '(__hostplan_complete)'
