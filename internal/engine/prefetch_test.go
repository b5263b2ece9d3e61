package engine_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/internal/transport"
	"github.com/hostplan/hostplan/inventory"
)

// localDialer connects to this machine and counts the commands run.
type localDialer struct {
	d      *transport.Dialer
	mu     sync.Mutex
	runs   []string
	closed int
}

func (l *localDialer) Dial(ctx context.Context, t transport.Target) (transport.Conn, error) {
	c, err := l.d.Dial(ctx, t)
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	transport.Conn
	l *localDialer
}

func (c *countedConn) Close() error {
	c.l.mu.Lock()
	c.l.closed++
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func (c *countedConn) Run(ctx context.Context, cmd string, stdin io.Reader) (*transport.Result, error) {
	c.l.mu.Lock()
	c.l.runs = append(c.l.runs, cmd)
	c.l.mu.Unlock()
	return c.Conn.Run(ctx, cmd, stdin)
}

// A plan's reads that do not depend on the facts run in the facts' session; one that
// does runs after them, in one more; the plans are those of reading on the spot.
func TestPlanReadsWithFacts(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		sessions    int
	}{
		{"known before the facts", `"1"`, 1},
		{"depends on the facts", `host.facts.os_family != "" ? "1" : "1"`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// ip_forward's value here is whatever this machine has: the plan shows it.
			now, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
			if err != nil {
				t.Skip(err)
			}
			eng, d := localEngine(t, func(base string) string {
				return fmt.Sprintf(`task "t" {
  on = ["all"]
  sysctl "net.ipv4.ip_forward" {
    value = %s
    file  = %q
  }
}
`, tc.value, filepath.Join(base, "99-test.conf"))
			}, engine.Options{})
			p := eng.Plan(context.Background())
			st := p.Hosts[0].Steps[0]
			if p.Hosts[0].Err != nil || st.Err != nil {
				t.Fatalf("plan: %v %v", p.Hosts[0].Err, st.Err)
			}
			if len(d.runs) != tc.sessions {
				t.Errorf("the plan ran %d commands, want %d", len(d.runs), tc.sessions)
			}
			want := strings.TrimSpace(string(now))
			shown := strings.Join(st.Change.Details, "\n")
			if want != "1" && !strings.Contains(shown, fmt.Sprintf("runtime value %q -> \"1\"", want)) || want == "1" && strings.Contains(shown, "runtime value") {
				t.Errorf("plan details %q do not show the runtime value %s", st.Change.Details, want)
			}
		})
	}
}

// localEngine is an engine for the plan plan(base) on this machine (connection local),
// base being a fresh directory for the plan's files.
func localEngine(t *testing.T, plan func(base string) string, opts engine.Options) (*engine.Engine, *localDialer) {
	t.Helper()
	base, err := os.MkdirTemp(os.Getenv("HOME"), "hostplan-prefetch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	planDir := filepath.Join(base, "plan")
	os.Mkdir(planDir, 0o700)
	write(t, filepath.Join(planDir, "main.hcl"), plan(base))
	invPath := filepath.Join(base, "inventory.hcl")
	write(t, invPath, "host \"me\" {\n  connection = \"local\"\n}\n")
	p, diags := config.Load(planDir, config.Inputs{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	in, diags := inventory.Load([]string{invPath})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	cs, err := in.Resolve(in.Hosts[0], inventory.ResolveOptions{SSHConfig: "none", Home: base, LocalUser: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	d := &localDialer{d: transport.NewDialer(transport.DialerOptions{})}
	t.Cleanup(func() { d.d.Close() })
	eng, diags := engine.New(p, in, []*engine.Target{{Host: in.Hosts[0], Conn: cs}}, d, opts)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	t.Cleanup(func() { eng.Close() })
	return eng, d
}

// A run that only plans closes each host's connection once the host is planned; one
// that may apply keeps it until Close.
func TestPlanOnlyCloses(t *testing.T) {
	for _, planOnly := range []bool{false, true} {
		eng, d := localEngine(t, func(base string) string {
			return fmt.Sprintf("task \"t\" {\n  on = [\"all\"]\n  directory %q {}\n}\n", filepath.Join(base, "made"))
		}, engine.Options{PlanOnly: planOnly})
		p := eng.Plan(context.Background())
		if p.Hosts[0].Err != nil || p.Hosts[0].Steps[0].Err != nil {
			t.Fatalf("plan: %v %v", p.Hosts[0].Err, p.Hosts[0].Steps[0].Err)
		}
		want := 0
		if planOnly {
			want = 1
		}
		if d.closed != want {
			t.Errorf("PlanOnly %v: %d connections closed after Plan, want %d", planOnly, d.closed, want)
		}
		if err := eng.Close(); err != nil || d.closed != 1 {
			t.Errorf("PlanOnly %v: after Close %d closed (%v), want 1", planOnly, d.closed, err)
		}
	}
}
