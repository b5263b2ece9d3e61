package tasks

// What port_forward and allowlist share: their firewall backend (internal/firewall)
// and the attributes that choose it.

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/hostplan/hostplan/internal/firewall"
)

var zoneName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,17}$`)

// checkFirewallAttrs checks the method and zone attributes of a firewall resource.
func checkFirewallAttrs(method, zone string, methods ...string) error {
	if !slices.Contains(methods, method) {
		return &AttrError{Attr: "method", Msg: fmt.Sprintf("%q is not a method; use one of %q", method, methods)}
	}
	if !zoneName.MatchString(zone) {
		return &AttrError{Attr: "zone", Msg: fmt.Sprintf("%q is not a firewalld zone name", zone)}
	}
	return nil
}

func (h *Host) firewallHost() firewall.Host {
	return firewall.Host{Name: h.Name, Conn: h.Conn, Facts: h.Facts}
}

// savedRulesChange shows a backend's saved ruleset as the file change it is.
func savedRulesChange(s *firewall.SavedRules) *FileChange {
	return &FileChange{Path: s.Path, Link: s.Link, Old: s.Old, New: s.New, OldExists: s.OldExists, NewExists: true}
}
