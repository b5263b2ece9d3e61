package inventory

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// A diagnostic on a line that sets a password, secret, token or key never shows its
// value: the quoting errors of INI lines quoted the whole rest of the line.
func TestDiagnosticsHideSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, file, src, summary string
	}{
		{"single quote", "hosts.ini", "h1 ansible_ssh_pass='hunter2 ansible_port=22\n", "Invalid host line"},
		{"double quote", "hosts.ini", "h1 ansible_become_password=\"hunter2\n", "Invalid host line"},
		{"vars section", "hosts.ini", "[all:vars]\nansible_ssh_pass='hunter2\n", "Invalid value"},
		{"children section", "hosts.ini", "[a:children]\n'hunter2 api_key=x\n", "Invalid line"},
		{"spaces around =", "hosts.ini", "h1 ansible_ssh_pass = hunter2\n", "Expected key=value"},
		{"variable as host", "hosts.ini", "[web]\nansible_ssh_pass=hunter2\n", "Missing host name"},
		{"bad pattern", "hosts.ini", "db_token=hunter2[9:1]\n", "Invalid host pattern"},
		{"yaml tag", "hosts.yml", "all:\n  vars:\n    ansible_ssh_pass: !!bool hunter2\n", "Invalid boolean"},
		{"yaml int tag", "hosts.yml", "all:\n  vars:\n    api_key: !!int hunter2\n", "Invalid number"},
		{"hcl escape", "inv.hcl", "host \"a\" {\n  vars = { db_secret = \"hunter2\\q\" }\n}\n", "Invalid escape sequence"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := loadSrc(t, tc.file, tc.src)
			if d := findDiag(diags, tc.summary); d == nil {
				t.Fatalf("no %q diagnostic: %v", tc.summary, diags)
			}
			for _, d := range diags {
				if strings.Contains(d.Summary+d.Detail, "hunter") {
					t.Errorf("%s: %s shows the secret", d.Summary, d.Detail)
				}
			}
		})
	}
}

// Lines without a credential keep their quoted values, which help find the mistake.
func TestDiagnosticsQuoteOtherValues(t *testing.T) {
	_, diags := loadSrc(t, "hosts.ini", "[web]\nweb1 ansible_user=deploy become\n")
	if d := findDiag(diags, "Expected key=value"); d == nil || !strings.Contains(d.Detail, `"become" is not one`) {
		t.Errorf("got %v", diags)
	}
}

func findDiag(diags hcl.Diagnostics, summary string) *hcl.Diagnostic {
	for _, d := range diags {
		if d.Summary == summary {
			return d
		}
	}
	return nil
}
