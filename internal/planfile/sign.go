package planfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hostplan/hostplan/internal/sshsig"
)

// Namespace is the SSHSIG namespace of plan signatures: a signature made for another
// purpose (git commits, files) never passes for a plan's, nor the other way round.
const Namespace = "hostplan-plan"

// SigPath is where a plan's detached signature lives, where `ssh-keygen -Y sign` puts
// it.
func SigPath(path string) string { return path + ".sig" }

// WriteSigned saves f at path and its signature by signer at SigPath(path). The plan is
// signed before anything is written, so a key that cannot sign leaves no new file.
func WriteSigned(path string, f *File, signer ssh.Signer) error {
	data, err := Marshal(f)
	if err != nil {
		return err
	}
	sig, err := sshsig.Sign(signer, Namespace, data)
	if err != nil {
		return fmt.Errorf("sign the plan: %w", err)
	}
	if err := writeAtomic(path, data); err != nil {
		return err
	}
	if err := writeAtomic(SigPath(path), sig); err != nil {
		return fmt.Errorf("save the plan's signature: %w", err)
	}
	return nil
}

// Trust is whose signatures are accepted: the operator's own keys, and the lines of an
// allowed_signers file.
type Trust struct {
	Own            []OwnKey
	AllowedSigners []sshsig.AllowedSigner
	// AllowedPath names the allowed_signers file in messages.
	AllowedPath string
	Now         time.Time
}

// OwnKey is a key of the operator's, and where it comes from (a file, ssh-agent).
type OwnKey struct {
	Key    ssh.PublicKey
	Source string
}

// Signer is who signed a plan, once the signature verified.
type Signer struct {
	Key ssh.PublicKey
	// Trusted says why the key is trusted; empty when it is not.
	Trusted string
	// Principals are the allowed_signers principals of the key, when listed there.
	Principals string
}

// Fingerprint names the key as ssh-keygen -l does: SHA256:... (ED25519).
func (s *Signer) Fingerprint() string { return KeyName(s.Key) }

// KeyName names a key as ssh-keygen -l does.
func KeyName(k ssh.PublicKey) string {
	t := strings.ToUpper(strings.TrimPrefix(k.Type(), "ssh-"))
	switch {
	case strings.HasPrefix(k.Type(), "ecdsa-"):
		t = "ECDSA"
	case strings.HasPrefix(k.Type(), "sk-ecdsa-"):
		t = "ECDSA-SK"
	case strings.HasPrefix(k.Type(), "sk-ssh-ed25519"):
		t = "ED25519-SK"
	}
	return fmt.Sprintf("%s (%s)", ssh.FingerprintSHA256(k), t)
}

// ErrUnsigned is returned by Verify when the plan has no signature next to it.
var ErrUnsigned = errors.New("the plan is not signed")

// Verify checks sig, the armored SSHSIG signature of the plan data, and says who made
// it. A signature that is missing, malformed, of other data or for another purpose is
// an error; a good signature by a key that Trust does not list is not: Signer.Trusted
// is empty then, for the caller to refuse (apply) or to show (show).
func Verify(data, sig []byte, t Trust) (*Signer, error) {
	if sig == nil {
		return nil, ErrUnsigned
	}
	s, err := sshsig.Parse(sig)
	if err != nil {
		return nil, err
	}
	if err := s.Verify(Namespace, data); err != nil {
		return nil, err
	}
	out := &Signer{Key: s.PublicKey}
	for _, o := range t.Own {
		if string(o.Key.Marshal()) == string(s.PublicKey.Marshal()) {
			out.Trusted = "your signing key, " + o.Source
		}
	}
	if m := sshsig.Match(t.AllowedSigners, s.PublicKey, Namespace, t.Now); len(m) > 0 {
		out.Principals = m[0].Principals
		if out.Trusted == "" {
			out.Trusted = fmt.Sprintf("%s:%d", t.AllowedPath, m[0].Line)
		}
	}
	return out, nil
}

// ReadSig reads the signature next to the plan at path; a missing one is nil.
func ReadSig(path string) ([]byte, error) {
	b, err := os.ReadFile(SigPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// CheckMode refuses a plan file that others could have written: group or world
// writable. Its signature covers its content, but a file anyone may replace is no way
// to keep a reviewed change.
func CheckMode(name string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", name)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o), who could have replaced it: make it private (chmod 600 %s), check it with hostplan show, and sign it again if in doubt", name, perm, name)
	}
	return nil
}
