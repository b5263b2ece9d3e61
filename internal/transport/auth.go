package transport

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultIdentityFiles are tried when a Target names none (missing ones are skipped).
var defaultIdentityFiles = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}

// errEncryptedKey is returned for an encrypted key that cannot be unlocked here.
type errEncryptedKey struct{ file string }

func (e *errEncryptedKey) Error() string {
	return fmt.Sprintf("key %s is encrypted; run on a terminal to be asked for its passphrase, or load it into ssh-agent", e.file)
}

// keyEntry caches one identity file for the whole run: its passphrase is asked once.
type keyEntry struct {
	signer ssh.Signer
	err    error
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// agentClient connects to $SSH_AUTH_SOCK once per Dialer; nil without an agent.
func (d *Dialer) agentClient() agent.ExtendedAgent {
	d.agentOnce.Do(func() {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return
		}
		c, err := net.Dial("unix", sock)
		if err != nil {
			return // like ssh: an unusable agent is no agent
		}
		d.agentConn = c
		d.agent = agent.NewClient(c)
	})
	return d.agent
}

// agentSigners lists the agent's keys (empty without an agent).
func (d *Dialer) agentSigners() []ssh.Signer {
	ag := d.agentClient()
	if ag == nil {
		return nil
	}
	signers, err := ag.Signers()
	if err != nil {
		return nil
	}
	return signers
}

// loadKey parses an identity file once per run. An encrypted key is used through the
// agent when the agent holds it (its public half from the key file or from FILE.pub),
// otherwise its passphrase is asked through DialerOptions.Passphrase.
func (d *Dialer) loadKey(file string, agentKeys map[string]ssh.Signer) (ssh.Signer, error) {
	d.keyMu.Lock()
	defer d.keyMu.Unlock()
	if e, ok := d.keys[file]; ok {
		return e.signer, e.err
	}
	s, err := d.parseKey(file, agentKeys)
	var pubOnly *errPublicOnly
	if errors.Is(err, fs.ErrNotExist) || errors.As(err, &pubOnly) {
		// Not cached: the file may appear later in the run, another host's agent
		// (IdentityAgent) may hold the key.
		return nil, err
	}
	d.keys[file] = &keyEntry{signer: s, err: err}
	return s, err
}

func (d *Dialer) parseKey(file string, agentKeys map[string]ssh.Signer) (ssh.Signer, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(pem)
	if err == nil {
		return s, nil
	}
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		return publicOnlyIdentity(file, pem, err, agentKeys)
	}
	pub := missing.PublicKey
	if pub == nil {
		if data, err := os.ReadFile(file + ".pub"); err == nil {
			pub, _, _, _, _ = ssh.ParseAuthorizedKey(data)
		}
	}
	if pub != nil {
		if as, ok := agentKeys[string(pub.Marshal())]; ok {
			return as, nil
		}
	}
	if d.opts.Passphrase == nil {
		return nil, &errEncryptedKey{file: file}
	}
	pass, err := d.opts.Passphrase(file)
	if err != nil {
		return nil, fmt.Errorf("passphrase for key %s: %w", file, err)
	}
	s, err = ssh.ParsePrivateKeyWithPassphrase(pem, pass)
	clear(pass)
	if err != nil {
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("key %s: wrong passphrase", file)
		}
		return nil, fmt.Errorf("key %s: %w", file, err)
	}
	return s, nil
}

// signers returns the keys to offer for t, in order, and notes on keys left out.
//
// sshd counts every offered key against MaxAuthTries (6 by default) and hangs up with
// "Too many authentication failures" after that, so the order matters:
//   - identity files configured for the target are offered first, in their order, then
//     the agent's other keys (the configured key is tried first even when the agent
//     holds many). A configured file that is missing is skipped with a warning, as ssh
//     does; one that cannot be unlocked is an error naming it. A file holding only a
//     public key (IdentityFile ~/.ssh/id.pub) selects that key in the agent.
//   - with no identity files configured, the agent's keys come first (as ssh does), then
//     the default files ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exist; missing defaults
//     are skipped silently, encrypted ones that cannot be unlocked are noted.
//   - IdentitiesOnly drops the agent keys that are not the key of an identity file.
//   - each key's certificates (KEY-cert.pub beside an identity file, CertificateFile)
//     are offered right before the key.
//
// The agent is the one at t.IdentityAgent. A key is offered once even when it is both
// in a file and in the agent.
func (d *Dialer) signers(t Target) ([]ssh.Signer, []string, error) {
	agentSigners, notes := d.agentSignersFor(t)
	agentKeys := map[string]ssh.Signer{}
	for _, s := range agentSigners {
		agentKeys[string(s.PublicKey().Marshal())] = s
	}
	explicit := len(t.IdentityFiles) > 0
	files := t.IdentityFiles
	if !explicit {
		files = defaultIdentityFiles
	}
	fileSigners, fileNotes, err := d.identitySigners(files, explicit, agentKeys)
	if err != nil {
		return nil, nil, err
	}
	notes = append(notes, fileNotes...)
	if t.IdentitiesOnly {
		agentSigners = onlyKeysOf(agentSigners, fileSigners)
	}
	first, then := fileSigners, agentSigners
	if !explicit {
		first, then = agentSigners, fileSigners
	}
	out := uniqueSigners(first, then)
	out, certNotes := d.withCertificates(out, files, t.CertificateFiles)
	return out, append(notes, certNotes...), nil
}

// identitySigners loads the identity files. Missing files are skipped: silently for
// the defaults, with a warning (once per run) and a note for configured ones.
func (d *Dialer) identitySigners(files []string, explicit bool, agentKeys map[string]ssh.Signer) ([]ssh.Signer, []string, error) {
	var signers []ssh.Signer
	var notes []string
	for _, f := range files {
		path := expandHome(f)
		s, err := d.loadKey(path, agentKeys)
		var pubOnly *errPublicOnly
		switch {
		case err == nil:
			signers = append(signers, s)
		case errors.Is(err, fs.ErrNotExist):
			if explicit && !isDefaultIdentity(path) {
				msg := fmt.Sprintf("identity file %s does not exist", path)
				d.warnOnce(path, "no such identity: "+msg+"; going on without it")
				notes = append(notes, msg)
			}
		case errors.As(err, &pubOnly):
			notes = append(notes, err.Error())
		case explicit:
			return nil, nil, err
		default:
			notes = append(notes, err.Error())
		}
	}
	return signers, notes, nil
}

// uniqueSigners concatenates lists, keeping the first of signers with the same key.
func uniqueSigners(lists ...[]ssh.Signer) []ssh.Signer {
	seen := map[string]bool{}
	var out []ssh.Signer
	for _, list := range lists {
		for _, s := range list {
			k := string(s.PublicKey().Marshal())
			if !seen[k] {
				seen[k] = true
				out = append(out, s)
			}
		}
	}
	return out
}
