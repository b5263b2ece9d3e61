package transport

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func localConn(t *testing.T) Conn {
	t.Helper()
	d := NewDialer(DialerOptions{})
	t.Cleanup(func() { d.Close() })
	c, err := d.Dial(context.Background(), Target{Name: "local", Local: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// RunAll's batch stops at the first failing command, quotes it with its exit status
// and output, and runs nothing after it; RunAllThen returns the last command's output
// byte for byte.
func TestRunAllBatch(t *testing.T) {
	c, dir := localConn(t), t.TempDir()
	mark := func(n string) string { return "touch " + ShellQuote(filepath.Join(dir, n)) }
	ctx := context.Background()

	out, err := RunAllThen(ctx, c, []string{mark("a"), "while false; do :; done", mark("b")}, "printf 'x\\n\\n'")
	if err != nil || out != "x\n\n" {
		t.Fatalf("RunAllThen = %q, %v; want the output of then, trailing newlines kept", out, err)
	}

	err = RunAll(ctx, c, []string{mark("c"), "echo oops >&2; exit 7", mark("d")})
	if err == nil || err.Error() != "echo oops >&2; exit 7: exit 7: oops" {
		t.Errorf("RunAll error = %v; want the failing command quoted with its status and output", err)
	}
	// The last command's failure, and output that looks like a failure's mark.
	err = RunAll(ctx, c, []string{mark("e"), "echo late; exit 4"})
	if err == nil || err.Error() != "echo late; exit 4: exit 4: late" {
		t.Errorf("RunAll error = %v; want the failing last command quoted", err)
	}
	// What the shell itself says (a syntax error) is in the error.
	if err := RunAll(ctx, c, []string{"true", "( exit 5"}); err == nil || !strings.Contains(strings.ToLower(err.Error()), "syntax error") {
		t.Errorf("RunAll with a syntax error: %v", err)
	}
	if err := RunAll(ctx, c, []string{"printf 'hostplan-batch-failed 0 9\\nx'"}); err != nil {
		t.Errorf("output like a failure's mark: %v", err)
	}
	_, err = RunAllThen(ctx, c, nil, "echo bad >&2; false")
	if err == nil || !strings.Contains(err.Error(), "echo bad >&2; false: exit 1: bad") {
		t.Errorf("failing then: %v", err)
	}
	for n, want := range map[string]bool{"a": true, "b": true, "c": true, "d": false, "e": true} {
		if _, err := os.Stat(filepath.Join(dir, n)); (err == nil) != want {
			t.Errorf("%s ran: %v, want %v", n, err == nil, want)
		}
	}
}
