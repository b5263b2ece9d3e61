package inventory

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Nested aliases ("a billion laughs") must not make loading take exponential time:
// the loader stops at its work budget with an error naming the problem.
func TestYAMLAliasBomb(t *testing.T) {
	for _, tc := range []struct{ name, src string }{
		{"vars", func() string {
			var b strings.Builder
			b.WriteString("all:\n  vars:\n    l0: &l0 [x]\n")
			for i := 1; i <= 9; i++ {
				refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", ")
				fmt.Fprintf(&b, "    l%d: &l%d [%s]\n", i, i, refs)
			}
			b.WriteString("  hosts:\n    h1:\n")
			return b.String()
		}()},
		{"children", func() string {
			var b strings.Builder
			b.WriteString("all:\n  children:\n    g0: &g0 {hosts: {h1: }}\n")
			for i := 1; i <= 40; i++ {
				fmt.Fprintf(&b, "    g%d: &g%d {children: {a%d: *g%d, b%d: *g%d}}\n", i, i, i, i-1, i, i-1)
			}
			return b.String()
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, diags := loadSrc(t, "bomb.yml", tc.src)
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("loading took %v", d)
			}
			if !diags.HasErrors() || !strings.Contains(diags.Error(), "YAML aliases expand too far") {
				t.Errorf("want the alias budget error, got %v", diags)
			}
		})
	}
}
