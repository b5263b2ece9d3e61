package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// signFlags choose the operator's signing key and whom else to trust, for saved plans.
type signFlags struct {
	key     string // -sign-key
	allowed string // -allowed-signers
}

// signingFlags adds -sign-key (plan, apply, show) and -allowed-signers (apply, show:
// plan trusts nobody, it only signs).
func signingFlags(fs *flag.FlagSet, f *signFlags, verifies bool) {
	fs.StringVar(&f.key, "sign-key", "", "your SSH key, to sign saved plans and to trust plans it signed: a private key file, its .pub (the key is in ssh-agent), agent (the agent's first key) or none (default $HOSTPLAN_SIGN_KEY, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa, else the agent's first key)")
	if !verifies {
		return
	}
	fs.StringVar(&f.allowed, "allowed-signers", "", "ssh-keygen allowed_signers file of the other keys whose plans you trust (default $HOSTPLAN_ALLOWED_SIGNERS, else ~/.config/hostplan/allowed_signers)")
}

// keyRef is the operator's signing key before it is loaded: a key file, or the agent.
type keyRef struct {
	path  string // private key or .pub file; "" for the agent's first key
	shown string // for messages
}

// defaultKeys are tried in this order when no key is named, as ssh does.
var defaultKeys = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// signingKey is -sign-key, else $HOSTPLAN_SIGN_KEY, else the first default key file
// that exists, else the agent's first key. nil: there is none (or "none" was asked).
// explicit says the operator named it, so failing to load it is an error.
func (a *app) signingKey(f signFlags) (ref *keyRef, explicit bool) {
	spec := f.key
	if spec == "" {
		spec = a.getenv("HOSTPLAN_SIGN_KEY")
	}
	switch spec {
	case "none":
		return nil, true
	case "agent":
		return &keyRef{shown: "ssh-agent"}, true
	case "":
	default:
		return &keyRef{path: a.expandHome(spec), shown: spec}, true
	}
	for _, name := range defaultKeys {
		p := filepath.Join(a.getenv("HOME"), ".ssh", name)
		if exists(p) || exists(p+".pub") {
			return &keyRef{path: p, shown: "~/.ssh/" + name}, false
		}
	}
	if a.getenv("SSH_AUTH_SOCK") != "" {
		return &keyRef{shown: "ssh-agent"}, false
	}
	return nil, false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (a *app) expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return filepath.Join(a.getenv("HOME"), rest)
	}
	return p
}

// agentKeys lists the keys of the ssh-agent at $SSH_AUTH_SOCK: nil without one.
func (a *app) agentKeys() ([]ssh.Signer, func(), error) {
	sock := a.getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, func() {}, nil
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, func() {}, fmt.Errorf("ssh-agent at %s: %w", sock, err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, func() {}, fmt.Errorf("ssh-agent: list keys: %w", err)
	}
	return signers, func() { conn.Close() }, nil
}

// publicKey is the key's public half, without asking for any passphrase: from the
// .pub file, the private key file (OpenSSH's format keeps the public key in clear), or
// the agent.
func (a *app) publicKey(ref *keyRef) (ssh.PublicKey, error) {
	if ref.path == "" {
		signers, done, err := a.agentKeys()
		defer done()
		if err != nil {
			return nil, err
		}
		if len(signers) == 0 {
			return nil, errors.New("ssh-agent holds no key (ssh-add one, or pass -sign-key FILE)")
		}
		return signers[0].PublicKey(), nil
	}
	pubPath := ref.path
	if !strings.HasSuffix(pubPath, ".pub") {
		pubPath += ".pub"
	}
	if b, err := os.ReadFile(pubPath); err == nil {
		k, _, _, _, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pubPath, err)
		}
		return k, nil
	}
	return privateKeyPublic(ref.path)
}

func privateKeyPublic(path string) (ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing) && missing.PublicKey != nil:
		return missing.PublicKey, nil
	case err != nil:
		return nil, fmt.Errorf("signing key %s: %w (put its public key next to it as %s.pub)", path, err, path)
	}
	return s.PublicKey(), nil
}

// signer loads the key to sign with: the agent's copy when it holds the key (so a
// passphrase-protected or hardware key works as it does for ssh), else the private key
// file, asking for its passphrase on a terminal.
func (a *app) signer(ref *keyRef) (ssh.Signer, func(), error) {
	pub, err := a.publicKey(ref)
	if err != nil {
		return nil, nil, err
	}
	signers, done, err := a.agentKeys()
	if err != nil && ref.path == "" {
		return nil, nil, err
	}
	for _, s := range signers {
		if string(s.PublicKey().Marshal()) == string(pub.Marshal()) {
			return s, done, nil
		}
	}
	done()
	if ref.path == "" || strings.HasSuffix(ref.path, ".pub") {
		return nil, nil, fmt.Errorf("signing key %s is not in ssh-agent: ssh-add it, or pass -sign-key with the private key file", ref.shown)
	}
	s, err := a.parsePrivateKey(ref.path)
	return s, func() {}, err
}

func (a *app) parsePrivateKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", path, err)
		}
		return s, nil
	}
	ask := a.passphrasePrompt()
	if ask == nil {
		return nil, fmt.Errorf("signing key %s is protected by a passphrase and stdin is not a terminal: add it to ssh-agent (ssh-add %s)", path, path)
	}
	pass, err := ask(path)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	if s, err = ssh.ParsePrivateKeyWithPassphrase(b, pass); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return s, nil
}
