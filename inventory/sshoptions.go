package inventory

import (
	"fmt"
	"strings"
)

// SSHOptions are the OpenSSH options of issue 15 that Resolve reads from ~/.ssh/config;
// the fields match transport.SSHOptions, which they convert to.
type SSHOptions struct {
	UserKnownHosts        []string // UserKnownHostsFile's files after the first (KnownHosts)
	GlobalKnownHosts      []string // GlobalKnownHostsFile; nil: the system default
	StrictHostKeyChecking string   // yes, ask, accept-new, no, off; "" when not set
	CertificateFiles      []string // CertificateFile, all of them, in order
	IdentityAgent         string   // IdentityAgent as written (tokens and ~ expanded)
	IdentitiesOnly        bool
}

// hostKeyOptions reads GlobalKnownHostsFile and StrictHostKeyChecking.
func (r *sshResolver) hostKeyOptions(c *ConnSettings) {
	for _, f := range strings.Fields(r.get("globalknownhostsfile")) {
		if strings.EqualFold(f, "none") {
			c.GlobalKnownHosts = []string{"none"}
			break
		}
		c.GlobalKnownHosts = append(c.GlobalKnownHosts, r.expand("GlobalKnownHostsFile", f))
	}
	v := strings.ToLower(r.get("stricthostkeychecking"))
	switch v {
	case "", "yes", "ask", "accept-new", "no", "off":
		c.StrictHostKeyChecking = v
	default:
		r.inv.warnLocked(fmt.Sprintf("%s: StrictHostKeyChecking %q for host %s is not yes, ask, accept-new, no or off; hostplan checks host keys strictly", r.cfgPath, v, r.alias))
	}
}

// authOptions reads CertificateFile, IdentityAgent and IdentitiesOnly.
func (r *sshResolver) authOptions(c *ConnSettings) {
	for _, f := range r.getAll("certificatefile") {
		if f = strings.TrimSpace(f); f != "" && !strings.EqualFold(f, "none") {
			c.CertificateFiles = append(c.CertificateFiles, r.expand("CertificateFile", f))
		}
	}
	if a := r.get("identityagent"); a != "" {
		c.IdentityAgent = r.expand("IdentityAgent", a)
	}
	switch v := strings.ToLower(r.get("identitiesonly")); v {
	case "yes":
		c.IdentitiesOnly = true
	case "", "no":
	default:
		r.inv.warnLocked(fmt.Sprintf("%s: IdentitiesOnly %q for host %s is not yes or no and was ignored", r.cfgPath, v, r.alias))
	}
}
