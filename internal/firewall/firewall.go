// Package firewall manages a host's packet filter through one of three backends:
// firewalld, iptables and the Windows port proxy with its firewall (netsh). Select picks
// the backend once per host from its facts and the method a resource asks for. The
// resources (port_forward, allowlist) say what they want; a backend reads the host's
// rules and returns the exact commands that bring them to that state, which the plan
// shows and Apply runs unchanged.
package firewall

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/hostplan/hostplan/internal/allowlist"
	"github.com/hostplan/hostplan/internal/facts"
	"github.com/hostplan/hostplan/internal/transport"
)

// Methods, as a resource's method attribute names them.
const (
	Auto      = "auto"
	Firewalld = "firewalld"
	IPTables  = "iptables"
	Netsh     = "netsh"
)

// Host is the host a backend reads and changes.
type Host struct {
	Name  string // as the inventory names it, for messages
	Conn  transport.Conn
	Facts *facts.Facts
	// Rules are the host's iptables rules, and Zones its firewalld zones, as this run
	// plans them, shared by its steps; nil reads them afresh.
	Rules *Rules
	Zones *Zones
	// DialsUnix: the connection reaches a Unix socket as the user commands run as
	// (transport.DialsUnix), so hostplan reads firewalld over the bus itself.
	DialsUnix bool
	// Bus is the host's system bus connection for the run, shared by its reads and
	// steps; nil connects for each.
	Bus *Bus
	// Later leaves work for after the host's last firewall step of the task, once per
	// key (tasks.Host.Later); nil does it at once.
	Later func(ctx context.Context, key string, fn func(context.Context) error) error
	// Step is the address of the step being applied, for the work Later does on its
	// behalf.
	Step string
}

func (h Host) rules() *Rules {
	if h.Rules == nil {
		return &Rules{}
	}
	return h.Rules
}

func (h Host) zones() *Zones {
	if h.Zones == nil {
		return &Zones{}
	}
	return h.Zones
}

// Forward is a port forward: ListenPort of the host to To:ToPort.
type Forward struct {
	Name       string // tags the rules, so they can be found again
	ListenPort int
	To         netip.Addr
	ToPort     int
	Protocol   string // "tcp" or "udp"
	Masquerade bool
	Zone       string // firewalld's
	Absent     bool
}

// Allowlist lets Allow's sources reach its ports.
type Allowlist struct {
	Allow  allowlist.Allow
	Zone   string // firewalld's
	Absent bool
}

// Changes are what a backend would do to bring one resource's rules to the wanted state.
type Changes struct {
	// Commands are shell lines run in order: the plan shows them and Apply runs exactly
	// these.
	Commands []string
	// Notes are what else a reviewer should know, shown after the commands.
	Notes []string
	// Saved is the change of the ruleset boot restores, when the backend keeps it in a
	// file of its own (iptables); nil otherwise. Apply saves the ruleset that runs after
	// Commands, which is this New unless another program changed the rules meanwhile.
	Saved *SavedRules
}

// SavedRules is a saved ruleset before and after a change.
type SavedRules struct {
	Path      string // the file written
	Link      string // the path the distro reads, when it is a symlink to Path; else ""
	Old, New  []byte
	OldExists bool
}

// Backend is one way of managing a host's packet filter, in the style of k0sctl's
// configurers: what differs between firewalld, iptables and netsh lives behind it.
type Backend interface {
	// Method is the backend's method name.
	Method() string
	// Forward reads the host's rules and returns what brings f to the wanted state. It
	// changes nothing.
	Forward(ctx context.Context, h Host, f Forward) (*Changes, error)
	// Allow reads the host's rules and returns what brings a to the wanted state. It
	// changes nothing.
	Allow(ctx context.Context, h Host, a Allowlist) (*Changes, error)
	// Apply carries out the Commands of Changes this backend returned for the same
	// host: runs them in order, stopping at the first that fails, then keeps the result
	// across reboots where the commands do not do so themselves.
	Apply(ctx context.Context, h Host, commands []string) error
	// Reads lists read-only commands that Forward and Allow run on the host for a
	// resource in zone (firewalld's), exactly as they run them, for a caller that runs
	// the reads of a host's steps in one session ahead of them (transport.Prefetch).
	// netsh's listings are not among them (yet): they run in the steps.
	Reads(zone string) []string
	// KernelForwarding reports whether a forward through this backend needs hostplan to
	// set net.ipv4.ip_forward: firewalld turns it on itself, and the Windows port proxy
	// relays connections in user space.
	KernelForwarding() bool
}

// Reads lists the read-only commands a resource with method in zone runs on the host
// (Backend.Reads). Without facts, methods auto and firewalld list firewalld's read too:
// the facts may yet say firewalld runs, and its read, guessed in the facts' session,
// then saves the host a session of its own. Elsewhere it ends at a test of
// /run/firewalld (or, where firewalld ran since boot and stopped, at firewall-cmd's
// refusal, as the facts' check does).
func Reads(h Host, method, zone string) []string {
	var reads []string
	if b, _, err := Select(h, method); err == nil {
		reads = b.Reads(zone)
	}
	if h.Facts == nil && (method == Auto || method == Firewalld) {
		reads = append(reads, firewalld{}.Reads(zone)...)
	}
	if h.DialsUnix {
		// Read over the bus by hostplan itself (readZoneBus); in the shell only if that fails.
		reads = slices.DeleteFunc(reads, func(r string) bool { return r == zoneRead(zone) })
	}
	return reads
}

// IPTablesRead reports whether read is one of the iptables backend's reads.
func IPTablesRead(read string) bool { return slices.Contains(iptables{}.Reads(""), read) }

// Looks lists the files a resource with method may read on the host: iptables' saved
// rules, at both places a distro keeps them, so that the list is the same with and
// without facts (see transport.FileReads), and the system bus's socket.
func Looks(method string) []transport.Look {
	var looks []transport.Look
	if method == Auto || method == IPTables {
		looks = append(looks, transport.Look{Path: newIPTables(&facts.Facts{DistroFamily: "rhel"}).rulesFile, Read: true},
			transport.Look{Path: newIPTables(nil).rulesFile, Read: true})
	}
	if method == Auto || method == Firewalld {
		looks = append(looks, transport.Look{Path: systemBus}) // checked before hostplan connects to it
	}
	return looks
}

// Select picks the backend for a host: on Windows the port proxy (netsh); on Linux
// firewalld when it runs (rules made behind its back would be lost at its next reload),
// else iptables, whose saved rules go where the distro's boot scripts restore them
// from. A method other than "auto" is used as set, or refused where it cannot work. The
// second value says why, for the plan. Without facts (a guess of the reads before they
// are gathered) the host counts as Linux without firewalld.
func Select(h Host, method string) (Backend, string, error) {
	if h.Facts.Windows() {
		switch method {
		case Netsh:
			return netshBackend{}, "method netsh (as set)", nil
		case Auto:
			return netshBackend{}, "method netsh (auto: Windows host)", nil
		}
		return nil, "", fmt.Errorf("method %q on Windows host %s; use \"netsh\" (or \"auto\")", method, h.Name)
	}
	if h.Facts == nil { // a guess before the facts are in
		h.Facts = &facts.Facts{OSFamily: "an unknown system"}
	}
	switch {
	case method == Netsh:
		return nil, "", fmt.Errorf("method \"netsh\" needs a Windows host; %s runs %s", h.Name, h.Facts.OSFamily)
	case method == Firewalld && !h.Facts.Firewalld:
		return nil, "", fmt.Errorf("method \"firewalld\", but firewalld is not running on %s (its D-Bus state, or firewall-cmd --state); start it or use method = \"iptables\"", h.Name)
	case method == Firewalld:
		return firewalld{}, "method firewalld (as set)", nil
	case method == IPTables:
		return newIPTables(h.Facts), "method iptables (as set)", nil
	case h.Facts.Firewalld:
		return firewalld{}, "method firewalld (auto: firewalld is running)", nil
	}
	return newIPTables(h.Facts), "method iptables (auto: firewalld is not running)", nil
}
