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
			// Not a speed goal: the budget error below is the proof. The bound only
			// catches an exponential walk (2^40 steps), with room for a loaded CI
			// machine under -race (one loaded run took 21 s; alone it takes ~5 s).
			if d := time.Since(start); d > 2*time.Minute {
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

// A large range repeated in many groups (an INI line per group, a YAML alias per group)
// stops at maxHostEntries with one error at the entry that went past it; it used to
// take 20 s for 650 bytes and run out of memory with more groups.
func TestTooManyHostEntries(t *testing.T) {
	groups := maxHostEntries/100000 + 1
	var ini, yml strings.Builder
	yml.WriteString("all:\n  children:\n    g0: &g0\n      hosts:\n        h[0:99999]:\n")
	for i := 0; i < groups; i++ {
		fmt.Fprintf(&ini, "[g%d]\nh[0:99999]\n", i)
		if i > 0 {
			fmt.Fprintf(&yml, "    g%d: *g0\n", i)
		}
	}
	for _, tc := range []struct{ name, src, at string }{
		{"hosts.ini", ini.String(), fmt.Sprintf("%d:1", 2*groups)},
		{"hosts.yml", yml.String(), "5:9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := loadSrc(t, tc.name, tc.src)
			var found []string
			for _, d := range diags {
				found = append(found, d.Summary)
				if d.Summary == "Too many host entries" {
					if at := fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column); at != tc.at {
						t.Errorf("error at %s, want %s", at, tc.at)
					}
				}
			}
			if len(found) != 1 || found[0] != "Too many host entries" {
				t.Errorf("want one \"Too many host entries\" error, got %q", found)
			}
		})
	}
	// One group fewer is within the budget.
	_, diags := loadSrc(t, "hosts.ini", strings.Join(strings.SplitAfter(ini.String(), "\n")[:2*(groups-1)], ""))
	if diags.HasErrors() {
		t.Errorf("%d entries: %v", maxHostEntries, diags)
	}
}
