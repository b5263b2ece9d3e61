package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// AttackerPath is where InstallAttacker puts the attacker tool on a host.
const AttackerPath = "/srv/hostplan-attacker"

var attacker struct {
	once sync.Once
	bin  []byte
	err  error
}

// InstallAttacker builds cmd/hostplan-attacker (once per process) and installs it on
// the host at AttackerPath, runnable by every user: the tools of a hostile local user,
// for tests of hostplan's defences.
func (h *Host) InstallAttacker() error {
	attacker.once.Do(func() {
		dir, err := os.MkdirTemp("", "hostplan-attacker")
		if err != nil {
			attacker.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "hostplan-attacker")
		cmd := exec.Command("go", "build", "-o", out, "github.com/hostplan/hostplan/internal/lab/cmd/hostplan-attacker")
		if b, err := cmd.CombinedOutput(); err != nil {
			attacker.err = fmt.Errorf("lab: build the attacker tool: %v\n%s", err, b)
			return
		}
		attacker.bin, attacker.err = os.ReadFile(out)
	})
	if attacker.err != nil {
		return attacker.err
	}
	return h.WriteFile(AttackerPath, attacker.bin, 0o755)
}

// ExecAs runs `sh -c command` inside the host as user (an unprivileged lab user such
// as NoSudoUser), without SSH, and returns its combined output.
func (h *Host) ExecAs(user, command string) ([]byte, error) {
	quoted := "'" + strings.ReplaceAll(command, "'", `'\''`) + "'"
	return h.Exec(context.Background(), "exec setpriv --reuid="+user+" --regid="+user+" --init-groups -- /bin/sh -c "+quoted)
}
