package netsh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func addTestdataSeeds(f *testing.F, prefix string) {
	f.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", prefix+"*.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

// FuzzParseShowV4ToV4 checks that the parser never panics, that whatever it
// accepts is usable (ports in range, addresses safe on a cmd.exe command
// line) and that rendering and re-parsing the entries is lossless.
func FuzzParseShowV4ToV4(f *testing.F) {
	addTestdataSeeds(f, "portproxy_")
	f.Add("--------------- ----------  --------------- ----------\n* 1 a 2\n")
	f.Add("\xff\xfe-\x00")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, out string) {
		entries, err := ParseShowV4ToV4(out)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.ListenPort < 1 || e.ListenPort > 65535 || e.ConnectPort < 1 || e.ConnectPort > 65535 {
				t.Fatalf("port out of range: %v", e)
			}
			if err := checkCmdSafe("listen address", e.ListenAddress); err != nil {
				t.Fatal(err)
			}
			if err := checkCmdSafe("connect address", e.ConnectAddress); err != nil {
				t.Fatal(err)
			}
		}
		again, err := ParseShowV4ToV4(renderShow(entries))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if len(again) != len(entries) {
			t.Fatalf("re-parse: %d entries, want %d", len(again), len(entries))
		}
		for i := range again {
			if again[i] != entries[i] {
				t.Fatalf("re-parse: %v, want %v", again[i], entries[i])
			}
		}
		// Planning over any parsed state must not panic either.
		_, _ = Plan(entries, Entry{"*", 6443, "10.0.0.1", 6443}, false)
		_, _ = Plan(entries, Entry{"*", 6443, "10.0.0.1", 6443}, true)
	})
}

// FuzzParseShowRule checks that the rule parser never panics and keeps its
// contract: a non-zero exit code never yields rules, exit 0 never yields none.
func FuzzParseShowRule(f *testing.F) {
	addTestdataSeeds(f, "rule_")
	f.Add("x\n----------\n")
	f.Add(strings.Repeat("-", 70))
	f.Fuzz(func(t *testing.T, out string) {
		for _, code := range []int{0, 1} {
			rules, err := ParseShowRule(out, code)
			if err != nil {
				continue
			}
			if code != 0 && len(rules) != 0 {
				t.Fatalf("exit %d yielded %d rules", code, len(rules))
			}
			if code == 0 && len(rules) == 0 {
				t.Fatal("exit 0 yielded no rules and no error")
			}
			_, _ = PlanRule(rules, "api", 6443, false)
		}
	})
}
