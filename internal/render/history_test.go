package render

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hostplan/hostplan/internal/journal"
)

func TestHistory(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.Local)
	var b bytes.Buffer
	History(&b, []journal.Entry{
		{Time: at, Operator: "ops@b", Host: "h1", Resource: `file "/etc/x"`, Action: "update", Result: "changed", Before: "0123456789abcdef", After: "fedcba9876543210"},
		{Time: at, Operator: "ops@b", Host: "h2", Resource: `command "c"`, Action: "run", Result: "failed", Error: "exit 1: \x1b[2Jboom\nmore"},
	})
	got := b.String()
	for _, want := range []string{"TIME", "2026-11-23 10:00:00", "0123456789ab -> fedcba987654", `failed: exit 1: \x1b[2Jboom`} {
		if !strings.Contains(got, want) {
			t.Errorf("history lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "more") || strings.Contains(got, "\x1b") {
		t.Errorf("history shows more than the error's first line, or a raw escape:\n%s", got)
	}
}
