package lab

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestZScript(t *testing.T) {
	l, err := Start(context.Background(), Options{Hosts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	base, _ := readBaseFiles()
	h := l.Hosts[0]
	s := h.setupScript(base)
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		b.WriteString(line + "\n")
		if line != "" && !strings.HasSuffix(line, "|") && !strings.HasPrefix(line, "set") {
			b.WriteString("date +%s.%N\n")
		}
	}
	os.WriteFile("/tmp/zscript.sh", []byte(b.String()), 0o644)
	t0 := time.Now()
	out, err := h.Exec(context.Background(), "echo hi")
	t.Logf("exec: %v %s %v", time.Since(t0), out, err)
}
