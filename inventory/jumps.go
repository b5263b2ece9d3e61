package inventory

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// MaxJumps bounds a chain of jump hosts, counting those a first hop's own ProxyJump
// adds. OpenSSH has none: a ProxyJump loop in ssh_config (say "Host *" with a
// ProxyJump that the jump host matches too) starts ssh processes until something gives
// out; here it is an error naming the loop.
const MaxJumps = 8

// jumpHost is one hop of a ProxyJump or bastion chain; port 0 means not given.
type jumpHost struct {
	user, host string
	port       int
}

func (h jumpHost) String() string {
	s := h.host
	if h.port != 0 {
		s = net.JoinHostPort(h.host, strconv.Itoa(h.port))
	}
	if h.user != "" {
		s = h.user + "@" + s
	}
	return s
}

// parseJumpChain splits a chain "a,b" (each hop as parseJumpHost reads it) into its
// hops, in dialling order.
func parseJumpChain(s string) ([]jumpHost, error) {
	var hops []jumpHost
	for i, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			return nil, fmt.Errorf("bastion chain %q has an empty hop (number %d); write it as \"a,b\"", s, i+1)
		}
		u, h, p, err := parseOneJumpHost(part)
		if err != nil {
			return nil, err
		}
		hops = append(hops, jumpHost{user: u, host: h, port: p})
	}
	return hops, nil
}

// joinJumpChain writes hops back as "[user@]host[:port],...", without ssh:// prefixes.
func joinJumpChain(hops []jumpHost) string {
	parts := make([]string, len(hops))
	for i, h := range hops {
		parts[i] = h.String()
	}
	return strings.Join(parts, ",")
}

// jumpChain resolves the hops of spec, as ssh -J does (see ResolveJumps). path holds
// the lower-cased names being resolved, the target first, to catch a loop.
func (inv *Inventory) jumpChain(spec string, target ConnSettings, opts ResolveOptions, path []string) ([]ConnSettings, error) {
	hops, err := parseJumpChain(spec)
	if err != nil {
		return nil, err
	}
	var out []ConnSettings
	for i, h := range hops {
		hc, err := inv.jumpHost(h, i > 0, target, opts, path)
		if err != nil {
			return nil, fmt.Errorf("jump host %s (%d of %d): %w", h, i+1, len(hops), err)
		}
		out = append(out, hc...)
		if len(out) > MaxJumps {
			return nil, fmt.Errorf("the jump chain %s needs more than %d jump hosts (with the ProxyJump of its first hop), more than hostplan allows", spec, MaxJumps)
		}
	}
	seen := map[string]int{}
	for i, c := range out {
		id := jumpHost{user: c.User, host: c.Address, port: c.Port}.String()
		if j, ok := seen[id]; ok {
			return nil, fmt.Errorf("the jump chain %s goes through %s twice (hops %d and %d): a loop", spec, id, j+1, i+1)
		}
		seen[id] = i
	}
	return out, nil
}

// jumpHost resolves one hop, looked up by its own name. A hop reached through the
// hop before it (viaPrevious) ignores its own ProxyJump and ProxyCommand, as ssh -J
// does; the first hop's own ProxyJump chain is resolved and put before it.
func (inv *Inventory) jumpHost(h jumpHost, viaPrevious bool, target ConnSettings, opts ResolveOptions, path []string) ([]ConnSettings, error) {
	name := strings.ToLower(h.host)
	if slices.Contains(path, name) {
		return nil, fmt.Errorf("ProxyJump loop: %s -> %s", strings.Join(path, " -> "), name)
	}
	in := ConnSettings{Connection: "ssh", User: h.user, Port: h.port}
	hc, err := inv.resolve(h.host, in, viaPrevious, opts, target.IdentityFile, target.KnownHosts)
	if err != nil {
		return nil, err
	}
	var out []ConnSettings
	if hc.Bastion != "" {
		out, err = inv.jumpChain(hc.Bastion, target, opts, append(slices.Clone(path), name))
		if err != nil {
			return nil, fmt.Errorf("its own ProxyJump %s: %w", hc.Bastion, err)
		}
	}
	hc.Bastion, hc.Jumps = "", nil
	return append(out, hc), nil
}

// firstProxy returns whichever of ProxyJump and ProxyCommand ssh_config gives the
// host first (key lower-cased), with its value. In OpenSSH the first of the two wins,
// "none" included, and the other is ignored.
func (r *sshResolver) firstProxy() (key, value string) {
	if r.look == nil {
		return "", ""
	}
	pj, okJ := r.look.first("proxyjump")
	pc, okC := r.look.first("proxycommand")
	switch {
	case okJ && (!okC || pj.seq < pc.seq):
		return "proxyjump", strings.TrimSpace(pj.value)
	case okC:
		return "proxycommand", strings.TrimSpace(pc.value)
	}
	return "", ""
}

// proxyCommand expands a ProxyCommand's tokens as ssh does (sshconnect.c): %h the
// host name after HostName, %n the name as given (the alias), %k the host key alias
// (hostplan has none, so the name as given), %p the port, %r the remote user, %% a
// percent sign. Any other token is an error, as in ssh; "~" is left to the shell. The
// command runs in a shell, so a value with a shell metacharacter is refused, as for
// Match exec (sshexec.go), lest an inventory name run code on this machine.
func (r *sshResolver) proxyCommand(v string) (string, error) {
	var sb strings.Builder
	put := func(val string) error {
		if !shellSafeName(val) {
			return fmt.Errorf("%s: ProxyCommand for host %s: the value %q has characters a shell would interpret; hostplan does not put it into the command", r.cfgPath, r.alias, val)
		}
		sb.WriteString(val)
		return nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			sb.WriteByte(v[i])
			continue
		}
		if i++; i == len(v) {
			return "", fmt.Errorf("%s: ProxyCommand for host %s ends in a lone %%; write %%%% for a percent sign", r.cfgPath, r.alias)
		}
		var err error
		switch v[i] {
		case '%':
			sb.WriteByte('%')
		case 'h':
			err = put(r.tok.host)
		case 'n', 'k':
			err = put(r.tok.alias)
		case 'p':
			err = put(r.tok.port)
		case 'r':
			err = put(r.tok.remoteUser)
		default:
			return "", fmt.Errorf("%s: ProxyCommand for host %s has the token %%%c, which ssh does not expand there either (it takes %%%%, %%h, %%k, %%n, %%p and %%r)", r.cfgPath, r.alias, v[i])
		}
		if err != nil {
			return "", err
		}
	}
	return sb.String(), nil
}
