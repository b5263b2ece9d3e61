package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hostplan/hostplan/internal/planfile"
	"github.com/hostplan/hostplan/internal/privfile"
	"github.com/hostplan/hostplan/internal/sshsig"
)

// allowedSignersPath is -allowed-signers, else $HOSTPLAN_ALLOWED_SIGNERS, else
// $XDG_CONFIG_HOME/hostplan/allowed_signers or ~/.config/hostplan/allowed_signers.
func (a *app) allowedSignersPath(f signFlags) (path string, explicit bool) {
	if f.allowed != "" {
		return a.expandHome(f.allowed), true
	}
	if p := a.getenv("HOSTPLAN_ALLOWED_SIGNERS"); p != "" {
		return a.expandHome(p), true
	}
	if d := a.getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "hostplan", "allowed_signers"), false
	}
	return filepath.Join(a.getenv("HOME"), ".config", "hostplan", "allowed_signers"), false
}

// trust is whose plan signatures this operator accepts: their own signing key and the
// keys of the allowed_signers file.
func (a *app) trust(f signFlags) (planfile.Trust, error) {
	t := planfile.Trust{Now: time.Now()}
	if ref, explicit := a.signingKey(f); ref != nil {
		k, err := a.publicKey(ref)
		switch {
		case err == nil:
			t.Own = append(t.Own, planfile.OwnKey{Key: k, Source: ref.shown})
		case explicit:
			return t, err
		}
	}
	path, explicit := a.allowedSignersPath(f)
	t.AllowedPath = path
	data, err := readPrivateConfig(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return t, nil
	}
	if err != nil {
		return t, fmt.Errorf("allowed signers: %w", err)
	}
	if t.AllowedSigners, err = sshsig.ParseAllowedSigners(path, data); err != nil {
		return t, fmt.Errorf("allowed signers: %w", err)
	}
	return t, nil
}

// readPrivateConfig reads a file that decides trust. It must be owned by this user or
// root and writable by no one else: any user who can add a line to it could approve
// their own plans.
func readPrivateConfig(path string) ([]byte, error) {
	data, err := privfile.Read(path)
	var pe *privfile.Error
	if errors.As(err, &pe) {
		fix := "chmod go-w " + path
		if strings.HasPrefix(pe.Why, "is owned") {
			fix = fmt.Sprintf("chown %s %s", privfile.Me(), path)
		}
		return nil, fmt.Errorf("%s: refusing to trust it; %s", pe, fix)
	}
	return data, err
}

// checkSaved checks the saved plan read from path (f.Raw, the bytes that are then
// used): a private file with a good signature. It says who signed it; whether that key
// is trusted is in the Signer (Trusted), for apply to refuse and show to tell.
func (a *app) checkSaved(c *sharedFlags, path string, f *planfile.File) (*planfile.Signer, planfile.Trust, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, planfile.Trust{}, err
	}
	if err := planfile.CheckMode(path, fi); err != nil {
		return nil, planfile.Trust{}, err
	}
	sig, err := planfile.ReadSig(path)
	if err != nil {
		return nil, planfile.Trust{}, fmt.Errorf("%s: %w", planfile.SigPath(path), err)
	}
	t, err := a.trust(c.sign)
	if err != nil {
		return nil, t, err
	}
	s, err := planfile.Verify(f.Raw, sig, t)
	if err != nil && !errors.Is(err, planfile.ErrUnsigned) {
		err = fmt.Errorf("bad signature %s: %w", planfile.SigPath(path), err)
	}
	return s, t, err
}

// verifySaved decides whether apply may use the saved plan: checkSaved, and a trusted
// signer. The error says why not and what to do.
func (a *app) verifySaved(c *sharedFlags, path string, f *planfile.File) (*planfile.Signer, error) {
	s, t, err := a.checkSaved(c, path, f)
	switch {
	case errors.Is(err, planfile.ErrUnsigned):
		return nil, fmt.Errorf("%s is not signed (no %s): refusing to apply it. Review it (hostplan show %s), then sign it: %s",
			path, planfile.SigPath(path), path, signRecipe(path))
	case err != nil:
		return nil, fmt.Errorf("%w; refusing to apply %s", err, path)
	case s.Trusted == "":
		return nil, fmt.Errorf("%s is signed by a key you do not trust: %s. Refusing to apply it. %s",
			path, s.Fingerprint(), trustHint(s.Key, t.AllowedPath))
	}
	return s, nil
}

func signRecipe(path string) string {
	return fmt.Sprintf("ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n %s %s", planfile.Namespace, path)
}

// trustHint tells how to trust a key, once its owner is known: the allowed_signers line.
func trustHint(k ssh.PublicKey, allowedPath string) string {
	line := fmt.Sprintf("NAME namespaces=%q %s", planfile.Namespace, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))))
	return fmt.Sprintf("If you know whose key it is (compare the fingerprint with theirs: ssh-keygen -lf KEY.pub), trust it by adding this line to %s:\n  %s",
		allowedPath, line)
}

// signedBy says who signed a plan, for people.
func signedBy(s *planfile.Signer) string {
	who := s.Fingerprint()
	if s.Principals != "" {
		who = s.Principals + " " + who
	}
	return who + ", trusted: " + s.Trusted
}
