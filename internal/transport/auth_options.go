package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authState is what a Dialer keeps for the OpenSSH auth options of issue 15: agents at
// IdentityAgent sockets (one connection each per run) and the warnings already given.
type authState struct {
	mu     sync.Mutex
	agents map[string]*agentAt
	warned map[string]bool
}

// agentAt is the connection to one agent socket; client is nil when it could not be
// reached (like ssh, an unusable agent is no agent, with a note).
type agentAt struct {
	conn   net.Conn
	client agent.ExtendedAgent
	err    error
}

func (a *authState) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ag := range a.agents {
		if ag.conn != nil {
			ag.conn.Close()
		}
	}
	a.agents = nil
}

// warnOnce reports msg through DialerOptions.Warn the first time key is seen in a run.
func (d *Dialer) warnOnce(key, msg string) {
	d.auth.mu.Lock()
	first := !d.auth.warned[key]
	if d.auth.warned == nil {
		d.auth.warned = map[string]bool{}
	}
	d.auth.warned[key] = true
	d.auth.mu.Unlock()
	if first && d.opts.Warn != nil {
		d.opts.Warn(msg)
	}
}

// agentSocket resolves IdentityAgent: "" for $SSH_AUTH_SOCK (the Dialer's default
// agent), "none" for no agent, else a socket path.
func agentSocket(identityAgent string) string {
	v := strings.TrimSpace(identityAgent)
	switch {
	case v == "" || v == "SSH_AUTH_SOCK":
		return ""
	case strings.EqualFold(v, "none"):
		return "none"
	case strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}"):
		v = os.Getenv(v[2 : len(v)-1])
	case strings.HasPrefix(v, "$"):
		v = os.Getenv(v[1:])
	default:
		return expandHome(v)
	}
	if v == "" { // the variable is unset: no agent, as in ssh
		return "none"
	}
	return expandHome(v)
}

// agentSignersFor lists the keys of t's agent, with a note when its socket could not
// be used.
func (d *Dialer) agentSignersFor(t Target) ([]ssh.Signer, []string) {
	sock := agentSocket(t.IdentityAgent)
	switch sock {
	case "":
		return d.agentSigners(), nil
	case "none":
		return nil, nil
	}
	ag := d.agentAtSocket(sock)
	if ag.client == nil {
		return nil, []string{fmt.Sprintf("IdentityAgent %s: %v", sock, ag.err)}
	}
	signers, err := ag.client.Signers()
	if err != nil {
		return nil, []string{fmt.Sprintf("IdentityAgent %s: list keys: %v", sock, err)}
	}
	return signers, nil
}

// agentAtSocket connects to sock once per run.
func (d *Dialer) agentAtSocket(sock string) *agentAt {
	d.auth.mu.Lock()
	defer d.auth.mu.Unlock()
	if ag, ok := d.auth.agents[sock]; ok {
		return ag
	}
	if d.auth.agents == nil {
		d.auth.agents = map[string]*agentAt{}
	}
	ag := &agentAt{}
	if c, err := net.Dial("unix", sock); err != nil {
		ag.err = err
	} else {
		ag.conn, ag.client = c, agent.NewClient(c)
	}
	d.auth.agents[sock] = ag
	return ag
}

// errPublicOnly is an identity file that holds a public key the agent does not hold.
type errPublicOnly struct{ file string }

func (e *errPublicOnly) Error() string {
	return fmt.Sprintf("identity file %s is a public key and the agent does not hold its private key", e.file)
}

// publicOnlyIdentity handles an identity file that is no private key: a public key
// (IdentityFile ~/.ssh/id.pub, as ssh allows) selects that key in the agent.
func publicOnlyIdentity(file string, data []byte, parseErr error, agentKeys map[string]ssh.Signer) (ssh.Signer, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", file, parseErr)
	}
	if s, ok := agentKeys[string(pub.Marshal())]; ok {
		return s, nil
	}
	return nil, &errPublicOnly{file: file}
}

// isDefaultIdentity says whether path is one of the default identity files, which the
// inventory fills in when nothing names any: their absence is no news.
func isDefaultIdentity(path string) bool {
	for _, f := range defaultIdentityFiles {
		if expandHome(f) == path {
			return true
		}
	}
	return false
}

// plainKey is the key a certificate certifies, or key itself.
func plainKey(key ssh.PublicKey) ssh.PublicKey {
	if c, ok := key.(*ssh.Certificate); ok {
		return c.Key
	}
	return key
}

// onlyKeysOf keeps the agent signers whose key (or certified key) is one of keys'
// (IdentitiesOnly).
func onlyKeysOf(agentSigners, keys []ssh.Signer) []ssh.Signer {
	want := map[string]bool{}
	for _, s := range keys {
		want[string(plainKey(s.PublicKey()).Marshal())] = true
	}
	var out []ssh.Signer
	for _, s := range agentSigners {
		if want[string(plainKey(s.PublicKey()).Marshal())] {
			out = append(out, s)
		}
	}
	return out
}

// withCertificates puts each certificate right before the signer of the key it
// certifies, as a certificate signer: KEY-cert.pub beside each identity file KEY (or
// KEY.pub), then the CertificateFiles. Missing KEY-cert.pub files are normal; a
// configured certificate that is missing, unreadable or certifies none of the keys is
// warned about (once per run) and noted.
func (d *Dialer) withCertificates(signers []ssh.Signer, identityFiles, certFiles []string) ([]ssh.Signer, []string) {
	var certs []*ssh.Certificate
	var notes []string
	for _, f := range identityFiles {
		if c, err := readCertificate(strings.TrimSuffix(expandHome(f), ".pub") + "-cert.pub"); err == nil {
			certs = append(certs, c)
		} else if !errors.Is(err, fs.ErrNotExist) {
			notes = append(notes, err.Error())
		}
	}
	for _, f := range certFiles {
		c, err := readCertificate(expandHome(f))
		if err != nil {
			d.warnOnce("cert:"+f, err.Error())
			notes = append(notes, err.Error())
			continue
		}
		if !certifiesOneOf(c, signers) {
			msg := fmt.Sprintf("certificate %s certifies none of the keys offered (%s %s)", f, c.Key.Type(), ssh.FingerprintSHA256(c.Key))
			d.warnOnce("cert:"+f, msg)
			notes = append(notes, msg)
		}
		certs = append(certs, c)
	}
	return attachCertificates(signers, certs), notes
}

func readCertificate(path string) (*ssh.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certificate file: %w", err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil, fmt.Errorf("certificate file %s: %w", path, err)
	}
	c, ok := pub.(*ssh.Certificate)
	if !ok {
		return nil, fmt.Errorf("certificate file %s holds a %s key, not a certificate", path, pub.Type())
	}
	return c, nil
}

func certifiesOneOf(c *ssh.Certificate, signers []ssh.Signer) bool {
	for _, s := range signers {
		if string(s.PublicKey().Marshal()) == string(c.Key.Marshal()) {
			return true
		}
	}
	return false
}

// attachCertificates inserts a certificate signer before each plain signer that a
// certificate certifies (each certificate once).
func attachCertificates(signers []ssh.Signer, certs []*ssh.Certificate) []ssh.Signer {
	if len(certs) == 0 {
		return signers
	}
	var out []ssh.Signer
	used := map[string]bool{}
	for _, s := range signers {
		for _, c := range certs {
			blob := string(c.Marshal())
			if used[blob] || string(s.PublicKey().Marshal()) != string(c.Key.Marshal()) {
				continue
			}
			if cs, err := ssh.NewCertSigner(c, s); err == nil {
				used[blob] = true
				out = append(out, cs)
			}
		}
		out = append(out, s)
	}
	return uniqueSigners(out)
}
