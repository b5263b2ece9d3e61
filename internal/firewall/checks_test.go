package firewall

import (
	"context"
	"reflect"
	"testing"

	"github.com/hostplan/hostplan/internal/transport"
)

// runSections hands back each command's own output and status from one session.
func TestRunSections(t *testing.T) {
	d := transport.NewDialer(transport.DialerOptions{})
	t.Cleanup(func() { d.Close() })
	conn, err := d.Dial(context.Background(), transport.Target{Name: "local", Local: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	got, stderr, err := runSections(context.Background(), Host{Name: "local", Conn: conn},
		[]string{"printf 'a\\nb\\n'", "echo oops >&2; false", "printf x", "exit 3"})
	if err == nil || got != nil {
		t.Errorf("a command that ends the session must be an error, got %v", got)
	}
	got, stderr, err = runSections(context.Background(), Host{Name: "local", Conn: conn},
		[]string{"printf 'a\\nb\\n'", "echo oops >&2; false", "printf x"})
	want := []section{{"a\nb\n", 0}, {"", 1}, {"x", 0}}
	if err != nil || !reflect.DeepEqual(got, want) || stderr != "oops\n" {
		t.Errorf("runSections = %+v, %q, %v; want %+v", got, stderr, err, want)
	}
}
