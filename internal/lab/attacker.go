package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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

// Processes returns the /proc/PID/stat lines of the host's processes named comm, ""
// when there are none; it fails t on an error. Lab hosts share this machine's process
// ids (they have no pid namespace); their processes are told by their network namespace.
func (h *Host) Processes(t testing.TB, comm string) string {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", `for p in $(ip netns pids "$1"); do [ "$(cat /proc/$p/comm 2>/dev/null)" = "$2" ] && cat /proc/$p/stat 2>/dev/null; done; true`,
		"sh", h.NetNS, comm).Output()
	if err != nil {
		t.Fatalf("lab: processes of %s: %v", h.Name, err)
	}
	return strings.TrimSpace(string(out))
}
