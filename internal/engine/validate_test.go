package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/engine"
)

// TestValidatePlan: without an inventory, resources are still built for a placeholder
// host, so bad values are found wherever they come from, while what only a real host
// knows (its vars, facts and groups) is not held against the plan.
func TestValidatePlan(t *testing.T) {
	for _, tc := range []struct {
		name, plan string
		want       string // a diagnostic's summary and detail contain it; "" for none
	}{
		{"host values and unknowns", `task "t" {
  on = ["web"]
  file "/etc/motd" {
    content = "${host.name} ${host.address} ${host.vars.node_ip} ${host.facts.distro} ${join(",", host.groups)}"
    mode    = "0644"
  }
  sysctl "vm.swappiness" {
    value = host.vars.swappiness
  }
}`, ""},
		{"a bad mode", `task "t" {
  on = ["web"]
  file "/etc/motd" {
    content = "x"
    mode    = "0999"
  }
}`, "mode"},
		{"a bad path built from the host", `task "t" {
  on = ["web"]
  sysctl "vm.swappiness" {
    value = 10
    file  = "/etc/sysctl.d/${host.name}"
  }
}`, "ending in .conf"},
		{"a type error", `task "t" {
  on = ["web"]
  file "/etc/motd" {
    content = { a = 1 }
  }
}`, "Incorrect attribute value type"},
		{"an unknown function", `task "t" {
  on = ["web"]
  file "/etc/motd" {
    content = uper("x")
  }
}`, "uper"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(tc.plan), 0o644); err != nil {
			t.Fatal(err)
		}
		p, diags := config.Load(dir, config.Inputs{})
		if diags.HasErrors() {
			t.Fatalf("%s: %s", tc.name, diags.Error())
		}
		diags = engine.ValidatePlan(p)
		switch {
		case tc.want == "" && diags.HasErrors():
			t.Errorf("%s: %s", tc.name, diags.Error())
		case tc.want != "" && !strings.Contains(diags.Error(), tc.want):
			t.Errorf("%s: %v, want an error with %q", tc.name, diags, tc.want)
		}
	}
}
