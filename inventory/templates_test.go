package inventory

import (
	"strings"
	"testing"
)

// Jinja in a connection setting is refused where it is written; in an ordinary
// variable it is a value like any other (plans may use it as text).
func TestJinjaConnectionSettingRefused(t *testing.T) {
	for _, tc := range []struct{ file, src, where, name string }{
		{"hosts.ini", "[web]\nw1 ansible_user=\"{{ lookup('env', 'USER') }}\"\n", "hosts.ini line 2:", "ansible_user"},
		{"hosts.ini", "[web]\nw1\n[web:vars]\nansible_port={{ port }}\n", "hosts.ini line 4:", "ansible_port"},
		{"hosts.yml", "all:\n  hosts:\n    w1:\n      ansible_host: '{{ inventory_hostname }}.example.com'\n", "hosts.yml line 4:", "ansible_host"},
		{"hosts.yml", "all:\n  vars:\n    ansible_become: '{% if true %}yes{% endif %}'\n  hosts: {w1: }\n", "hosts.yml line 3:", "ansible_become"},
	} {
		inv, diags := loadSrc(t, tc.file, tc.src)
		out := renderDiags(inv, diags)
		if len(diags) != 1 || !strings.Contains(out, tc.where) || !strings.Contains(out, "Jinja template in "+tc.name) {
			t.Errorf("%s: want one error at %s naming %s:\n%s", tc.src, tc.where, tc.name, out)
		}
	}
	inv := mustLoadSrc(t, "hosts.ini", "[web]\nw1 motd=\"{{ not evaluated }}\"\n")
	if got := varOf(t, inv, "w1", "motd"); got != `"{{ not evaluated }}"` {
		t.Errorf("motd = %s", got)
	}
}
