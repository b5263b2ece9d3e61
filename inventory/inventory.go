// Package inventory holds the hosts a plan runs against, their groups and variables,
// read from HCL inventories and from Ansible INI/YAML inventories, and resolves each
// host's connection settings (inventory, then ~/.ssh/config, then built-in defaults).
//
// # Formats
//
// Load picks the format from the file name: ".hcl" is an HCL inventory, ".yml" and
// ".yaml" are Ansible YAML inventories, ".json" is a YAML inventory written in JSON or
// `ansible-inventory --list` output, anything else (".ini", "hosts", no extension) is
// an Ansible INI inventory. An executable file that starts like a program (#!, ELF) is
// a dynamic inventory script: it is run with --list (and --host NAME without
// _meta.hostvars) as Ansible runs one, when safe (see script.go). A directory is read
// as Ansible reads an inventory directory. Several files merge into one inventory: a
// host or group named in several files is one host or group; its groups are the union,
// and where two files set the same variable or setting, the later file wins.
//
// # Precedence
//
// Variables (Host.Vars), lowest first, like Ansible with its default
// hash_behaviour=replace (a later value replaces an earlier one whole, maps are not
// deep-merged):
//
//  1. vars of group "all" in the inventory files
//  2. vars of the other groups the host is in (directly or through children), ordered
//     by depth (a parent before its children) and, at the same depth, by name
//  3. group_vars/all beside the inventory files, then beside the plan
//  4. group_vars of the other groups, in the order of 2, beside the inventory files,
//     then beside the plan
//  5. the host's own vars, then host_vars beside the inventory files and the plan
//
// Connection settings (Host.Conn, then Resolve), lowest first:
//
//  1. built-in defaults (port 22, the local user, ~/.ssh/known_hosts, ~/.ssh/id_ed25519,
//     id_ecdsa and id_rsa, connection "ssh", become_user "root")
//  2. ~/.ssh/config (HostName, User, Port, IdentityFile, ProxyJump, UserKnownHostsFile)
//  3. the defaults{} block of the HCL files that declare the host
//  4. connection variables (ansible_user, ...) of groups, in the order above (INI and
//     YAML inventories, group_vars)
//  5. the host's own settings (HCL host block attributes, ansible_* host variables,
//     host_vars)
//
// Within one level, a later file beats an earlier one.
//
// # Ansible variables
//
// In INI and YAML inventories these variables set connection settings and do not
// appear in Host.Vars: ansible_host (ansible_ssh_host), ansible_port
// (ansible_ssh_port), ansible_user (ansible_ssh_user), ansible_ssh_private_key_file
// (ansible_private_key_file), ansible_connection ("ssh", "smart" and "paramiko" mean
// ssh; "local"), ansible_become, ansible_become_user, and ansible_become_method when it
// is "sudo". Variables that only tune how Ansible itself runs are dropped silently:
// ansible_python_interpreter and the other *_interpreter variables, pipelining,
// control paths, ansible_ssh_executable and the file-transfer switches (hostplan always
// uses SFTP), ansible_shell_type "sh". Every other ansible_* variable that changes how
// Ansible connects or escalates (passwords, ssh arguments, other become methods,
// host key checking, timeouts, winrm/docker/network connection options, ...) is
// dropped and reported once in Inventory.Warnings with the number of hosts it
// applied to. An ansible_* variable hostplan does not know at all is kept as an
// ordinary variable and also reported once.
//
// In HCL inventories, vars are just variables: connection settings are the host and
// defaults block attributes.
package inventory

import (
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Host is one inventory host with its variables already merged (all < parent group <
// child group < host, like Ansible).
type Host struct {
	Name   string
	Groups []string // sorted; always includes "all"
	Vars   map[string]cty.Value
	// Conn holds connection settings as written in the inventory; zero values mean unset.
	Conn ConnSettings

	// noBastion records an explicit `bastion = ""` (or "none"): no jump host, even if
	// ~/.ssh/config has a ProxyJump for this host.
	noBastion bool
}

// ConnSettings are a host's connection settings. In a resolved host (Resolve) every field
// that has a default is filled in.
type ConnSettings struct {
	Connection   string   // "ssh" (default) or "local"
	Address      string   // host name or IP to dial; defaults to Host.Name
	Port         int      // default 22
	User         string   // default: the current user
	IdentityFile []string // private keys to offer, in order
	KnownHosts   string   // default ~/.ssh/known_hosts
	Bastion      string   // "[user@]host[:port]" to jump through (ProxyJump), empty for none
	Become       bool     // run commands and writes through sudo
	BecomeUser   string   // default root
	Shell        string   // "sh" or "cmd" (a Windows host); "" detects it when connecting
	SSHOptions            // more OpenSSH options from ~/.ssh/config (sshoptions.go)

	// Jumps are Bastion's jump hosts (a chain "a,b" too), each resolved like a host, in
	// dialling order (Resolve fills them in). ProxyCommand is ssh_config's, its tokens
	// expanded; "" for none.
	Jumps        []ConnSettings
	ProxyCommand string
}

// Group is a named set of hosts with its own variables.
type Group struct {
	Name     string
	Hosts    []string // direct members, in file order; for "all", every host in inventory order
	Children []string // child group names; for "all", every group without another parent
	Vars     map[string]cty.Value
}

// Inventory is the union of every inventory source given to a run.
type Inventory struct {
	Hosts    []*Host // in the order first seen
	Groups   map[string]*Group
	Warnings []string // e.g. unsupported Ansible variables, each reported once

	// Files holds the source of every inventory file Load read, keyed by the path as
	// given, for hcl.NewDiagnosticTextWriter (so diagnostics print source snippets).
	Files map[string]*hcl.File

	mu       sync.Mutex                // guards the fields below and Warnings during Resolve
	sshCache map[string]*sshConfigFile // parsed ssh_config files, by path
}

// Host returns the host with this name, or nil.
func (inv *Inventory) Host(name string) *Host {
	for _, h := range inv.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// InGroup reports whether h is a member of group, directly or through child groups.
func (h *Host) InGroup(group string) bool {
	for _, g := range h.Groups {
		if g == group {
			return true
		}
	}
	return group == "all"
}

// GroupHosts returns the hosts of a group, including those of its child groups, in
// inventory order; nil for an unknown group.
func (inv *Inventory) GroupHosts(group string) []*Host {
	if _, ok := inv.Groups[group]; !ok && group != "all" {
		return nil
	}
	out := []*Host{}
	for _, h := range inv.Hosts {
		if h.InGroup(group) {
			out = append(out, h)
		}
	}
	return out
}

// warn appends a warning unless it is already there. Callers hold inv.mu when other
// goroutines may be resolving hosts.
func (inv *Inventory) warn(msg string) {
	for _, w := range inv.Warnings {
		if w == msg {
			return
		}
	}
	inv.Warnings = append(inv.Warnings, msg)
}
