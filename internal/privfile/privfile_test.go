package privfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestRead: a file only this user can change is read; one its group or others can
// write is an *Error saying so, with the mode. (Ownership by another user needs a
// second account: the inventory script and sign tests cover it as root.)
func TestRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config")
	if err := os.WriteFile(p, []byte("Host *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err := Read(p); err != nil || string(data) != "Host *\n" {
		t.Fatalf("private file: %q %v", data, err)
	}
	for _, mode := range []os.FileMode{0o664, 0o646} {
		os.Chmod(p, mode)
		_, err := Read(p)
		var pe *Error
		if !errors.As(err, &pe) || pe.Path != p || pe.Why != fmt.Sprintf("is writable by its group or by others (mode %04o)", mode) {
			t.Errorf("mode %o: %v", mode, err)
		}
	}
	if _, err := Read(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	// A sticky directory others can write is accepted only where the caller says so.
	os.Chmod(dir, 0o777|os.ModeSticky)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if why := Why(fi, true); why != "" {
		t.Errorf("sticky, allowed: %s", why)
	}
	if why := Why(fi, false); why != "is writable by its group or by others (mode 0777)" {
		t.Errorf("sticky, not allowed: %q", why)
	}
}
