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

// firewallHost is the host as a firewall backend sees it, with the iptables rules and
// firewalld zones its steps share during this run's planning.
func (h *Host) firewallHost() firewall.Host {
	if h.rules == nil {
		h.rules, h.zones = &firewall.Rules{}, &firewall.Zones{}
	}
	return firewall.Host{Name: h.Name, Conn: h.Conn, Facts: h.Facts, Rules: h.rules, Zones: h.zones, DialsUnix: h.DialsUnix, Bus: h.Bus, Later: h.Later, Step: h.Step}
}

// usesBus reports whether a firewall resource with method may use firewalld.
func usesBus(method string) bool { return method == firewall.Auto || method == firewall.Firewalld }

// showSaved puts a backend's saved ruleset in c as the file change it is.
func showSaved(c *Change, s *firewall.SavedRules) {
	if s == nil {
		return
	}
	c.File = &FileChange{Path: s.Path, Link: s.Link, Old: s.Old, New: s.New, OldExists: s.OldExists, NewExists: true}
	if s.Link != "" {
		c.Details = append(c.Details, linkNote(s.Link, s.Path))
	}
}
