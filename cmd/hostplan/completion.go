package main

import (
	"embed"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hostplan/hostplan/inventory"
)

// The shell scripts are thin: they hand the command line to the hidden command
// `hostplan __complete WORD...` and offer what it prints. So commands, flags and
// inventory names are completed by one piece of Go, tested once, and always match the
// binary the shell runs.
//
//go:embed completion
var completionScripts embed.FS

// completeFiles is what __complete prints to have the shell complete file names itself.
const completeFiles = ":files"

type completionArgs struct {
	shell string
}

func completionFlags(stderr io.Writer) *flag.FlagSet { return bareFlagSet("completion", stderr) }

func parseCompletionArgs(args []string, stderr io.Writer) (*completionArgs, error) {
	pos, err := parse(completionFlags(stderr), args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 || !slices.Contains(shells, pos[0]) {
		return nil, fmt.Errorf("hostplan completion: name one shell: %s", strings.Join(shells, ", "))
	}
	return &completionArgs{shell: pos[0]}, nil
}

var shells = []string{"bash", "zsh", "fish"}

func (a *app) completion(args []string) int {
	argv, err := parseCompletionArgs(args, a.stderr)
	if argsFailed(err, a.stderr) {
		return exitError
	}
	script, err := completionScripts.ReadFile("completion/hostplan." + argv.shell)
	if err != nil {
		panic(err) // embedded above, for every shell of the list
	}
	a.stdout.Write(script)
	return exitOK
}

// completeCommand is __complete: words are the command line after "hostplan" up to
// the cursor, the word being completed last (empty at a new word). It prints one
// candidate a line, or completeFiles.
func (a *app) completeCommand(words []string) int {
	if len(words) == 0 {
		words = []string{""}
	}
	cands, files := a.complete(words)
	if files {
		cands = []string{completeFiles}
	}
	for _, c := range cands {
		fmt.Fprintln(a.stdout, c)
	}
	return exitOK
}

func (a *app) complete(words []string) (cands []string, files bool) {
	cur := words[len(words)-1]
	if len(words) == 1 {
		return withPrefix(commandNames(), cur), false
	}
	c, ok := lookupCommand(words[0])
	if !ok {
		return nil, false
	}
	fs := c.flags(io.Discard)
	if name, value, isFlag := strings.Cut(cur, "="); isFlag && strings.HasPrefix(name, "-") {
		if f := fs.Lookup(strings.TrimLeft(name, "-")); f != nil {
			cands, files := a.flagValues(f.Name, value, words)
			return prefixed(name+"=", cands), files
		}
		return nil, false
	}
	if prev := words[len(words)-2]; takesValue(fs, prev) {
		return a.flagValues(strings.TrimLeft(prev, "-"), cur, words)
	}
	if strings.HasPrefix(cur, "-") {
		return withPrefix(flagNames(fs, strings.HasPrefix(cur, "--")), cur), false
	}
	switch c.name {
	case "plan", "apply", "check", "validate", "show", "fmt":
		return nil, true
	case "completion":
		return withPrefix(shells, cur), false
	case "help":
		return withPrefix(commandNames(), cur), false
	}
	return nil, false
}

// flagValues completes the value of flag name: file names, the inventory's host and
// group names, or a fixed list.
func (a *app) flagValues(name, cur string, words []string) (cands []string, files bool) {
	switch name {
	case "i", "inventory", "var-file", "ssh-config", "out", "sign-key", "allowed-signers", "journal":
		return nil, true
	case "limit":
		// A pattern is terms joined by : or , each maybe led by ! or &: complete the last.
		head := cur[:strings.LastIndexAny(cur, ":,!&")+1]
		hosts, groups := a.inventoryNames(words)
		return prefixed(head, withPrefix(append(hosts, groups...), cur[len(head):])), false
	case "host":
		hosts, _ := a.inventoryNames(words)
		return withPrefix(hosts, cur), false
	case "format":
		return withPrefix([]string{"human", "json", "markdown"}, cur), false
	}
	return nil, false
}

// inventoryNames loads the inventories the command line names with -i (else
// $HOSTPLAN_INVENTORY), as the command would, and returns their host and group names.
// It connects nowhere; an inventory that does not load completes nothing.
func (a *app) inventoryNames(words []string) (hosts, groups []string) {
	var paths []string
	for i, w := range words[:len(words)-1] {
		name, value, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if !strings.HasPrefix(w, "-") || name != "i" && name != "inventory" {
			continue
		}
		if !hasValue && i+1 < len(words)-1 {
			value = words[i+1]
		}
		paths = append(paths, expandHome(value))
	}
	if v := a.getenv("HOSTPLAN_INVENTORY"); len(paths) == 0 && v != "" {
		paths = strings.Split(v, string(os.PathListSeparator))
	}
	if len(paths) == 0 {
		return nil, nil
	}
	// Completing a word must not run programs: dynamic inventory scripts are left out
	// (an inventory with one completes no names).
	files := inventory.OSFiles()
	files.Scripts = nil
	inv, diags := inventory.LoadWith(paths, inventory.LoadOptions{Files: files})
	if diags.HasErrors() {
		return nil, nil
	}
	for _, h := range inv.Hosts {
		hosts = append(hosts, h.Name)
	}
	return hosts, inv.GroupNames()
}

// expandHome expands a leading ~/ as the shell will when the command runs (the shell
// hands completion the word as typed).
func expandHome(path string) string {
	rest, ok := strings.CutPrefix(path, "~/")
	if home, err := os.UserHomeDir(); ok && err == nil {
		return filepath.Join(home, rest)
	}
	return path
}

// takesValue says whether word is a flag of fs that takes a value in the next word.
func takesValue(fs *flag.FlagSet, word string) bool {
	if !strings.HasPrefix(word, "-") || strings.Contains(word, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimLeft(word, "-"))
	if f == nil {
		return false
	}
	b, isBool := f.Value.(interface{ IsBoolFlag() bool })
	return !isBool || !b.IsBoolFlag()
}

// flagNames are fs's flags written with one dash, or two as the user began.
func flagNames(fs *flag.FlagSet, double bool) []string {
	dash := "-"
	if double {
		dash = "--"
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, dash+f.Name) })
	return names
}

func commandNames() []string {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	return names
}

// withPrefix keeps the candidates that begin with prefix, each once.
func withPrefix(cands []string, prefix string) []string {
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func prefixed(head string, cands []string) []string {
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = head + c
	}
	return out
}
