package kubeyaml

import (
	"fmt"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// argItem is one item of command or args.
type argItem struct {
	value string
	line  int        // 0 when unknown
	list  string     // "command" or "args"
	idx   int        // index within that list
	node  *yaml.Node // nil when parsed from a Container
}

// flagRef is a flag as found in command + args.
type flagRef struct {
	Flag
	dashes  string // "--" or "-"
	bare    bool   // "--name" alone; Value is "true"
	item    int    // index of the flag's item in the argItem slice
	valItem int    // index of the separate value item of "--name value", else -1
}

// argItems lists the items flags are parsed from: command (less the executable, when its
// first item is not a flag) followed by args, as the kubelet concatenates them.
func argItems(command, args []argItem) []argItem {
	if len(command) > 0 && !strings.HasPrefix(command[0].value, "-") {
		command = command[1:]
	}
	return append(append([]argItem(nil), command...), args...)
}

func (it argItem) where() string {
	if it.line > 0 {
		return fmt.Sprintf("line %d", it.line)
	}
	return fmt.Sprintf("%s[%d]", it.list, it.idx)
}

// parseFlags reads flags the way pflag would for kube-apiserver: "--name=value",
// "--name value" when the next item does not start with "-", and a bare "--name" (value
// "true", pflag's meaning for a boolean flag; a non-boolean flag without a value would not
// start anyway). Items after a "--" terminator and other items are positional arguments.
// The same name twice is refused: the kube-apiserver keeps the last, which hides mistakes.
func parseFlags(items []argItem) ([]flagRef, error) {
	var flags []flagRef
	seen := map[string]int{}
	for i := 0; i < len(items); i++ {
		s := items[i].value
		if s == "--" {
			break
		}
		if len(s) < 2 || s[0] != '-' {
			continue
		}
		f := flagRef{item: i, valItem: -1, dashes: "-"}
		body := s[1:]
		if strings.HasPrefix(body, "-") {
			f.dashes, body = "--", body[1:]
		}
		name, value, hasValue := strings.Cut(body, "=")
		if err := checkFlagName(name); err != nil {
			return nil, &Error{Line: items[i].line, Msg: fmt.Sprintf("malformed flag %q: %v", s, err)}
		}
		f.Name, f.Value = name, value
		switch {
		case hasValue:
		case i+1 < len(items) && !strings.HasPrefix(items[i+1].value, "-"):
			f.Value, f.valItem = items[i+1].value, i+1
			i++
		default:
			f.Value, f.bare = "true", true
		}
		if j, dup := seen[name]; dup {
			first := items[flags[j].item]
			if items[f.item].line > 0 && first.line > 0 {
				return nil, &Error{Line: items[f.item].line, Msg: fmt.Sprintf("duplicate flag %s%s (also on line %d)", f.dashes, name, first.line)}
			}
			return nil, &Error{Msg: fmt.Sprintf("duplicate flag %s%s (%s and %s)", f.dashes, name, first.where(), items[f.item].where())}
		}
		seen[name] = len(flags)
		flags = append(flags, f)
	}
	return flags, nil
}

func checkFlagName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if strings.HasPrefix(name, "-") {
		return fmt.Errorf("too many dashes")
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '=' {
			return fmt.Errorf("name contains %q", r)
		}
	}
	return nil
}

// Flags returns the container's flags in order, from command (after the executable) and
// args, as the kubelet concatenates them. "--name=value" and "--name value" (when the next
// item does not start with "-") are understood, "-name" like "--name"; a bare "--name" has
// the value "true", what pflag gives a boolean flag. Items after a "--" and items that are
// not flags are positional and skipped. A name that appears twice is an error: the
// kube-apiserver would silently keep the last one.
func (c *Container) Flags() ([]Flag, error) {
	refs, err := parseFlags(argItems(listItems("command", c.Command, c.commandLines), listItems("args", c.Args, c.argLines)))
	if err != nil {
		return nil, err
	}
	out := make([]Flag, len(refs))
	for i, r := range refs {
		out[i] = r.Flag
	}
	return out, nil
}

func listItems(list string, values []string, lines []int) []argItem {
	items := make([]argItem, len(values))
	for i, v := range values {
		items[i] = argItem{value: v, list: list, idx: i}
		if i < len(lines) {
			items[i].line = lines[i]
		}
	}
	return items
}
