package inventory

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// ResolveOptions tell Resolve where to find the local pieces it consults. The zero
// value reads ~/.ssh/config and uses the current user's home and name.
type ResolveOptions struct {
	// SSHConfig is the ssh_config file to read; "" means $HOME/.ssh/config and "none"
	// reads none. A missing file is fine.
	SSHConfig string
	// Home is the home directory for "~" and %d in ssh_config and for the built-in
	// defaults; "" means the current user's ($HOME).
	Home string
	// LocalUser is the built-in default login user and %u; "" means the current OS user.
	LocalUser string
}

// Resolve returns the settings to connect to h with, every defaulted field filled in.
// Each field comes from the first of these that sets it:
//
//  1. the inventory: the host's own settings, then its groups' connection variables
//     (the deepest group first), then the defaults{} of its HCL files (h.Conn);
//  2. ~/.ssh/config (opts.SSHConfig), looked up by the inventory address if one is
//     set, else by the host name, exactly as `ssh <address>` would: HostName (which
//     replaces the address it was looked up by), User, Port, IdentityFile (all of them,
//     in order; only when the inventory gives none), ProxyJump or ProxyCommand
//     (whichever comes first, as in OpenSSH; an inventory bastion overrides both),
//     UserKnownHostsFile (the first file in KnownHosts, the others in UserKnownHosts),
//     and into SSHOptions GlobalKnownHostsFile, StrictHostKeyChecking, CertificateFile,
//     IdentityAgent and IdentitiesOnly (sshoptions.go). "~" and the tokens %%, %d, %h,
//     %i, %L, %l, %n, %p, %r and %u are expanded (ProxyCommand: only %%, %h, %k, %n, %p
//     and %r, and no "~", as ssh does). Host and Match blocks are evaluated as OpenSSH
//     does (sshmatch.go): the first value obtained wins, whichever kind of block gave
//     it, and the inventory's user and port count as ssh's -l and -p. A line ssh would
//     refuse (an unknown Match criterion, say) fails the host, naming file and line;
//     an unreadable file is ignored with a warning;
//  3. built-in defaults: connection "ssh", address = the host name, port 22, the
//     local user, ~/.ssh/known_hosts, identity files ~/.ssh/id_ed25519, id_ecdsa and
//     id_rsa (only when nothing above named any; some may not exist), become_user
//     "root".
//
// The jump hosts of a bastion or ProxyJump ("a" or a chain "a,b") are resolved the same
// way, each by its own name, into Jumps (see ResolveJumps). Hosts with connection
// "local" skip ~/.ssh/config and have no bastion. An unreadable Port, a ProxyCommand
// with an unknown %-token, and a jump chain that loops or is longer than MaxJumps are
// errors. Resolve is safe for concurrent use; it may append to inv.Warnings, so read
// those after the Resolve calls have returned.
func (inv *Inventory) Resolve(h *Host, opts ResolveOptions) (ConnSettings, error) {
	c, err := inv.resolve(h.Name, h.Conn, h.noBastion, opts, nil, "")
	if err != nil || c.Bastion == "" {
		return c, err
	}
	alias := cmp.Or(h.Conn.Address, h.Name)
	if c.Jumps, err = inv.jumpChain(c.Bastion, c, opts, []string{alias}); err != nil {
		return c, fmt.Errorf("bastion %s: %w", c.Bastion, err)
	}
	return c, nil
}

// Target is a host with its connection settings resolved.
type Target struct {
	Host *Host
	Conn ConnSettings
}

// Targets picks the hosts matching limit (every host for "") and resolves their
// connection settings, in inventory order.
func (inv *Inventory) Targets(limit string, opts ResolveOptions) ([]Target, error) {
	hosts := inv.Hosts
	if limit != "" {
		var err error
		if hosts, err = inv.Match(limit); err != nil {
			return nil, fmt.Errorf("--limit %s: %w", limit, err)
		}
	}
	out := make([]Target, 0, len(hosts))
	for _, h := range hosts {
		cs, err := inv.Resolve(h, opts)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", h.Name, err)
		}
		out = append(out, Target{Host: h, Conn: cs})
	}
	return out, nil
}

// ResolveBastion returns the settings to connect to the jump host a resolved host is
// reached through: the last of target.Bastion's hops, resolved as ResolveJumps does.
func (inv *Inventory) ResolveBastion(target ConnSettings, opts ResolveOptions) (ConnSettings, error) {
	jumps, err := inv.ResolveJumps(target, opts)
	if err != nil {
		return ConnSettings{}, err
	}
	return jumps[len(jumps)-1], nil
}

// ResolveJumps resolves the jump hosts of a resolved host (target.Bastion,
// "[user@]host[:port]" or a chain "a,b"), in dialling order, as ssh -J does: each hop
// is looked up in ~/.ssh/config by its host part like any host (so it can be an
// ssh_config alias), and user and port written in the chain win. The first hop's own
// ProxyJump (its hops come before it) or ProxyCommand apply; the later hops are
// reached through the hop before them, so theirs do not. Without an IdentityFile from
// ssh_config a hop offers the target's identity files, and it checks its host key in
// the target's known_hosts file unless ssh_config names another.
func (inv *Inventory) ResolveJumps(target ConnSettings, opts ResolveOptions) ([]ConnSettings, error) {
	if target.Bastion == "" {
		return nil, errors.New("the host has no bastion")
	}
	return inv.jumpChain(target.Bastion, target, opts, nil)
}

func (inv *Inventory) resolve(name string, in ConnSettings, noBastion bool, opts ResolveOptions, fallbackIDs []string, fallbackKnown string) (ConnSettings, error) {
	c := in
	c.IdentityFile = append([]string(nil), in.IdentityFile...)
	if c.Connection == "" {
		c.Connection = "ssh"
	}
	if c.Address == "" {
		c.Address = name
	}
	r, err := inv.newSSHResolver(c, opts)
	if err != nil {
		return c, err
	}
	r.address(&c)
	if err := r.port(&c); err != nil {
		return c, err
	}
	r.user(&c)
	r.identities(&c, fallbackIDs)
	r.knownHosts(&c, fallbackKnown)
	if err := r.bastion(&c, noBastion); err != nil {
		return c, err
	}
	if c.BecomeUser == "" {
		c.BecomeUser = "root"
	}
	if len(r.unknown) > 0 {
		inv.warnLocked(fmt.Sprintf("%s: unsupported tokens for host %s were left as written: %s", r.cfgPath, r.alias, strings.Join(r.unknown, ", ")))
	}
	if c.User == "" {
		return c, fmt.Errorf("cannot tell which user to log in to %s as: set user in the inventory (the local user is unknown)", name)
	}
	return c, nil
}

// sshResolver fills one host's connection settings from its ssh_config entry (the
// inventory's own settings win) and the defaults, as OpenSSH would.
type sshResolver struct {
	inv     *Inventory
	alias   string // the Host the ssh_config is asked about
	cfgPath string
	look    *sshLookup // nil: no ssh_config is read
	home    string
	local   string // the local user
	tok     tokens
	unknown []string // %-tokens that were left as written
}

// newSSHResolver evaluates the ssh_config for c.Address. The inventory's user and
// port count as given on ssh's command line: Match user sees them, as with ssh -l.
func (inv *Inventory) newSSHResolver(c ConnSettings, opts ResolveOptions) (*sshResolver, error) {
	r := &sshResolver{inv: inv, alias: c.Address, home: opts.Home, local: opts.LocalUser}
	if r.home == "" {
		r.home, _ = os.UserHomeDir()
	}
	if r.local == "" {
		if u, err := user.Current(); err == nil {
			r.local = u.Username
		} else {
			r.local = os.Getenv("USER")
		}
	}
	r.tok = tokens{home: r.home, localUser: r.local, alias: r.alias}
	if c.Connection != "ssh" {
		return r, nil
	}
	r.cfgPath = opts.SSHConfig
	if r.cfgPath == "" && r.home != "" {
		r.cfgPath = filepath.Join(r.home, ".ssh", "config")
	}
	if r.cfgPath == "" || r.cfgPath == "none" {
		return r, nil
	}
	cfg := inv.sshConfig(r.cfgPath, r.home)
	if cfg == nil {
		return r, nil
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	r.look = &sshLookup{cfg: cfg, original: r.alias, user: c.User, port: c.Port, local: r.local, home: r.home}
	if err := r.look.run(); err != nil {
		return nil, fmt.Errorf("ssh_config for host %s: %w", r.alias, err)
	}
	// ssh would look the name up in DNS and read the config again ("Match canonical");
	// hostplan does neither, so say so rather than differ quietly.
	if v := strings.ToLower(r.get("canonicalizehostname")); v == "yes" || v == "always" {
		inv.warnLocked(fmt.Sprintf("%s: CanonicalizeHostname %s is not done by hostplan: host names are used as given, and Match canonical blocks apply only when a Match final line asks for a final pass", r.cfgPath, v))
	}
	return r, nil
}

// get is the first value ssh_config gives the host for key (lower-case), or "".
func (r *sshResolver) get(key string) string {
	if r.look == nil {
		return ""
	}
	v, _ := r.look.first(key)
	return strings.TrimSpace(v.value)
}

// getAll is every value of a multi-valued option (IdentityFile, CertificateFile).
func (r *sshResolver) getAll(key string) []string {
	if r.look == nil {
		return nil
	}
	return r.look.all(key)
}

func (r *sshResolver) expand(key, v string) string {
	out, bad := r.tok.expand(v)
	for _, b := range bad {
		r.unknown = append(r.unknown, fmt.Sprintf("%%%c in %s", b, key))
	}
	return expandTilde(out, r.home)
}

func (r *sshResolver) address(c *ConnSettings) {
	if hn := r.get("hostname"); hn != "" {
		r.tok.host = r.alias
		c.Address = r.expand("HostName", hn)
	}
	r.tok.host = c.Address
}

func (r *sshResolver) port(c *ConnSettings) error {
	if c.Port == 0 {
		if p := r.get("port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("%s: Port %q for host %s is not a port number from 1 to 65535", r.cfgPath, p, r.alias)
			}
			c.Port = n
		}
	}
	if c.Port == 0 {
		c.Port = 22
	}
	r.tok.port = strconv.Itoa(c.Port)
	return nil
}

func (r *sshResolver) user(c *ConnSettings) {
	if c.User == "" {
		if u := r.get("user"); u != "" {
			c.User = r.expand("User", u)
		}
	}
	if c.User == "" {
		c.User = r.local
	}
	r.tok.remoteUser = c.User
}

func (r *sshResolver) identities(c *ConnSettings, fallback []string) {
	if len(c.IdentityFile) == 0 {
		for _, id := range r.getAll("identityfile") {
			if id = strings.TrimSpace(id); id != "" && !strings.EqualFold(id, "none") {
				c.IdentityFile = append(c.IdentityFile, r.expand("IdentityFile", id))
			}
		}
	}
	if len(c.IdentityFile) == 0 {
		c.IdentityFile = append(c.IdentityFile, fallback...)
	}
	if len(c.IdentityFile) == 0 && r.home != "" {
		for _, k := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			c.IdentityFile = append(c.IdentityFile, filepath.Join(r.home, ".ssh", k))
		}
	}
	r.authOptions(c)
}

func (r *sshResolver) knownHosts(c *ConnSettings, fallback string) {
	if c.KnownHosts == "" {
		if kh := strings.Fields(r.get("userknownhostsfile")); len(kh) > 0 && !strings.EqualFold(kh[0], "none") {
			c.KnownHosts = r.expand("UserKnownHostsFile", kh[0])
			// All the files are read; new keys go to the first.
			for _, f := range kh[1:] {
				c.UserKnownHosts = append(c.UserKnownHosts, r.expand("UserKnownHostsFile", f))
			}
		}
	}
	r.hostKeyOptions(c)
	if c.KnownHosts == "" {
		c.KnownHosts = fallback
	}
	if c.KnownHosts == "" && r.home != "" {
		c.KnownHosts = filepath.Join(r.home, ".ssh", "known_hosts")
	}
}

func (r *sshResolver) bastion(c *ConnSettings, noBastion bool) error {
	if c.Connection == "local" {
		c.Bastion, c.ProxyCommand = "", ""
		return nil
	}
	if c.Bastion != "" || noBastion {
		return nil // the inventory's bastion (or "none") overrides ssh_config's
	}
	key, v := r.firstProxy()
	switch {
	case v == "" || strings.EqualFold(v, "none"):
		return nil
	case key == "proxyjump":
		pj := r.expand("ProxyJump", v)
		hops, err := parseJumpChain(pj)
		if err != nil {
			return fmt.Errorf("%s: ProxyJump for host %s: %v", r.cfgPath, r.alias, err)
		}
		c.Bastion = joinJumpChain(hops)
	default:
		pc, err := r.proxyCommand(v)
		if err != nil {
			return err
		}
		c.ProxyCommand = pc
	}
	return nil
}

func (inv *Inventory) warnLocked(msg string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.warn(msg)
}

// sshConfig parses an ssh_config file once per inventory (nil: missing or unreadable,
// reported once). A line ssh would refuse, or a Match criterion hostplan does not
// evaluate, is kept as the entry's error: each host looked up in it fails with it, as
// ssh would fail, rather than connecting with settings ssh would not use.
func (inv *Inventory) sshConfig(path, home string) *sshConfigFile {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if c, ok := inv.sshCache[path]; ok {
		return c
	}
	if inv.sshCache == nil {
		inv.sshCache = map[string]*sshConfigFile{}
	}
	root, err := parseSSHConfig(path, home, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		inv.sshCache[path] = nil
		return nil
	case isPathError(err, path):
		inv.warn(fmt.Sprintf("%s could not be read and was ignored: %v", path, err))
		inv.sshCache[path] = nil
		return nil
	}
	entry := &sshConfigFile{root: root}
	if err != nil {
		entry.err = fmt.Errorf("ssh_config %w", err)
	}
	inv.sshCache[path] = entry
	return entry
}

// isPathError reports whether err is about reading path itself (not a file it
// includes, which is an error as in ssh).
func isPathError(err error, path string) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Path == path
}

// tokens expands ssh_config's percent tokens.
type tokens struct {
	home, localUser, alias, host, port, remoteUser string
}

func (t tokens) expand(s string) (string, []byte) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var sb strings.Builder
	var unknown []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 >= len(s) {
			sb.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case '%':
			sb.WriteByte('%')
		case 'd':
			sb.WriteString(t.home)
		case 'h':
			sb.WriteString(t.host)
		case 'n':
			sb.WriteString(t.alias)
		case 'p':
			sb.WriteString(t.port)
		case 'r':
			sb.WriteString(t.remoteUser)
		case 'u':
			sb.WriteString(t.localUser)
		case 'i':
			sb.WriteString(strconv.Itoa(os.Getuid()))
		case 'l', 'L':
			hn, _ := os.Hostname()
			if s[i] == 'L' {
				hn, _, _ = strings.Cut(hn, ".")
			}
			sb.WriteString(hn)
		default:
			unknown = append(unknown, s[i])
			sb.WriteByte('%')
			sb.WriteByte(s[i])
		}
	}
	return sb.String(), unknown
}

// expandTilde expands "~" and "~/..." to home, and "~user/..." to that user's home.
func expandTilde(p, home string) string {
	if !strings.HasPrefix(p, "~") {
		return p
	}
	name, rest, _ := strings.Cut(p[1:], "/")
	dir := home
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return p
		}
		dir = u.HomeDir
	}
	if dir == "" {
		return p
	}
	return filepath.Join(dir, rest)
}

// parseJumpHost splits "[user@]host[:port]" (or ssh://[user@]host[:port], or
// [user@][ipv6]:port); port 0 means not given. Of a chain "a,b" it checks every hop
// and returns the last, the one the host is reached through (OpenSSH's jump host).
func parseJumpHost(s string) (usr, host string, port int, err error) {
	if !strings.Contains(s, ",") {
		return parseOneJumpHost(s)
	}
	hops, err := parseJumpChain(s)
	if err != nil {
		return "", "", 0, err
	}
	last := hops[len(hops)-1]
	return last.user, last.host, last.port, nil
}

// parseOneJumpHost is parseJumpHost for one hop.
func parseOneJumpHost(s string) (usr, host string, port int, err error) {
	bad := func(why string) (string, string, int, error) {
		return "", "", 0, fmt.Errorf("bastion %q %s; write it as \"[user@]host[:port]\" or a chain \"a,b\", for example \"jump@bastion.example.com:22\"", s, why)
	}
	rest := strings.TrimPrefix(strings.TrimSpace(s), "ssh://")
	if strings.Contains(rest, ",") {
		return bad("lists several jump hosts where one belongs")
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		usr, rest = rest[:i], rest[i+1:]
		if usr == "" {
			return bad("has an empty user before '@'")
		}
	}
	hostPart, portPart := rest, ""
	switch {
	case strings.HasPrefix(rest, "["):
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return bad("has an unclosed '['")
		}
		hostPart, portPart = rest[1:j], strings.TrimPrefix(rest[j+1:], ":")
		if rest[j+1:] != "" && !strings.HasPrefix(rest[j+1:], ":") {
			return bad("has text after ']'")
		}
	case strings.Count(rest, ":") == 1:
		hostPart, portPart, _ = strings.Cut(rest, ":")
	}
	if hostPart == "" {
		return bad("has no host")
	}
	if strings.ContainsAny(hostPart, " \t/@") {
		return bad("is not a host name")
	}
	if portPart != "" {
		p, perr := strconv.Atoi(portPart)
		if perr != nil || p < 1 || p > 65535 {
			return bad("has a port that is not a number from 1 to 65535")
		}
		port = p
	}
	return usr, hostPart, port, nil
}
