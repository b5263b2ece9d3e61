package render

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hostplan/hostplan/inventory"
)

// Inventory prints `hostplan inventory`: each target's resolved connection settings,
// groups and the names of its variables (never their values: inventories often carry
// secrets in vars), then the count and the groups.
func Inventory(w io.Writer, targets []inventory.Target, groups []string) {
	for _, t := range targets {
		h, cs := t.Host, t.Conn
		fmt.Fprintf(w, "%s\n", h.Name)
		if cs.Connection == "local" {
			fmt.Fprintf(w, "  connection: local\n")
		} else {
			fmt.Fprintf(w, "  connect:    %s@%s:%d\n", cs.User, cs.Address, cs.Port)
			if cs.Bastion != "" {
				fmt.Fprintf(w, "  bastion:    %s\n", cs.Bastion)
			}
			fmt.Fprintf(w, "  keys:       %s\n", strings.Join(cs.IdentityFile, ", "))
			fmt.Fprintf(w, "  known_hosts: %s\n", cs.KnownHosts)
			if cs.Shell != "" {
				fmt.Fprintf(w, "  shell:      %s\n", cs.Shell)
			}
		}
		if cs.Become {
			fmt.Fprintf(w, "  become:     sudo to %s\n", cs.BecomeUser)
		}
		fmt.Fprintf(w, "  groups:     %s\n", strings.Join(h.Groups, ", "))
		if len(h.Vars) > 0 {
			names := make([]string, 0, len(h.Vars))
			for n := range h.Vars {
				names = append(names, n)
			}
			sort.Strings(names)
			fmt.Fprintf(w, "  vars:       %s\n", strings.Join(names, ", "))
		}
	}
	fmt.Fprintf(w, "\n%d hosts, groups: %s\n", len(targets), strings.Join(groups, ", "))
}
