package transport

import (
	"context"
	"io"
	"strings"
	"testing"
)

// countRuns counts the commands that reach the host.
type countRuns struct {
	Conn
	runs []string
}

func (c *countRuns) Run(ctx context.Context, cmd string, stdin io.Reader) (*Result, error) {
	c.runs = append(c.runs, cmd)
	return c.Conn.Run(ctx, cmd, stdin)
}

// Prefetched reads cost one session between them; each is answered once, exactly as
// it would have run; a failed read, a read with input and an unknown command run on
// the host.
func TestPrefetch(t *testing.T) {
	ctx := context.Background()
	host := &countRuns{Conn: dialLocal(t, DialerOptions{}, Target{})}
	c := Prefetch(ctx, host, []string{"printf 'a\\nb\\n'", "echo no >&2; exit 3", "printf 'a\\nb\\n'", "printf x"})
	if len(host.runs) != 1 {
		t.Fatalf("Prefetch ran %d commands, want one session", len(host.runs))
	}
	for _, tc := range []struct {
		cmd, stdin string
		out        string
		code       int
		ran        bool // reached the host
	}{
		{cmd: "printf 'a\\nb\\n'", out: "a\nb\n"},
		{cmd: "printf x", out: "x"},
		{cmd: "printf 'a\\nb\\n'", out: "a\nb\n", ran: true}, // answered once only
		{cmd: "echo no >&2; exit 3", code: 3, ran: true},
		{cmd: "cat", stdin: "in", out: "in", ran: true},
		{cmd: "echo other", out: "other\n", ran: true},
	} {
		before := len(host.runs)
		var in io.Reader
		if tc.stdin != "" {
			in = strings.NewReader(tc.stdin)
		}
		res, err := c.Run(ctx, tc.cmd, in)
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Stdout) != tc.out || res.ExitCode != tc.code {
			t.Errorf("%s: %q exit %d, want %q exit %d", tc.cmd, res.Stdout, res.ExitCode, tc.out, tc.code)
		}
		if ran := len(host.runs) > before; ran != tc.ran {
			t.Errorf("%s: reached the host %v, want %v", tc.cmd, ran, tc.ran)
		}
	}
}

// PrefetchSections reads the results of a Sections script that ran within another
// command; output it cannot read keeps nothing.
func TestPrefetchSections(t *testing.T) {
	ctx := context.Background()
	host := &countRuns{Conn: dialLocal(t, DialerOptions{}, Target{})}
	s := NewSections([]string{"printf one", "exit 1"})
	res, err := host.Run(ctx, "echo before >/dev/null\n"+s.Script(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := PrefetchSections(host, s, string(res.Stdout))
	if res, err := c.Run(ctx, "printf one", nil); err != nil || string(res.Stdout) != "one" || len(host.runs) != 1 {
		t.Errorf("printf one: %+v %v, %d commands ran", res, err, len(host.runs))
	}
	if res, err := c.Run(ctx, "exit 1", nil); err != nil || res.ExitCode != 1 || len(host.runs) != 2 {
		t.Errorf("exit 1: %+v %v, %d commands ran", res, err, len(host.runs))
	}
	if c := PrefetchSections(host, s, "cut short"); c != Conn(host) {
		t.Error("output without the sections kept results")
	}
}

// cutShort answers every command with output that ends before any section does.
type cutShort struct{ Conn }

func (cutShort) Run(context.Context, string, io.Reader) (*Result, error) {
	return &Result{Stdout: []byte("s3cr3t-content\n")}, nil
}

// A RunSections script whose output is cut short says so without quoting the output,
// which may hold a file read ahead (a secret, say).
func TestRunSectionsCutShort(t *testing.T) {
	_, _, err := RunSections(context.Background(), cutShort{}, []string{"cat /etc/app.conf"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "ended early") {
		t.Errorf("cut short: %v", err)
	}
}
