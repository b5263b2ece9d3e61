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

// An alias to one of its own parents loops; merged at several places it branches at
// every level. One error says so, at the mapping, and the walk stops:
// every branch used to report it again (200,000 diagnostics, found by FuzzYAMLInventory).
func TestYAMLAliasToParent(t *testing.T) {
	for _, src := range []string{
		"all: &base\n  children:\n    b:\n      <<: *base\n",
		"all: &base\n  children:\n    b:\n      <<: *base\n    c:\n      <<: *base\n    d:\n      <<: [*base]\n",
		"all:\n  children:\n    a: &a\n      children:\n        b: *a\n        c: *a\n",
		"all:\n  vars:\n    v: &v [1, *v, *v]\n",
	} {
		_, diags := loadSrc(t, "loop.yml", src)
		deep := 0
		for _, d := range diags {
			if strings.Contains(d.Summary, "nested too deeply") && strings.Contains(d.Detail, "own") {
				deep++
			}
		}
		// The group loops also get the builder's "Cycle in group children" error.
		if deep != 1 || len(diags) > 2 {
			t.Errorf("%q: want one nesting error, got %d diagnostics: %v", src, len(diags), diags)
		}
	}
}
