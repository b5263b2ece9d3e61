package auditpolicy

import (
	"errors"
	"testing"

	"github.com/hostplan/hostplan/templates"
)

// FuzzValidate checks that Validate never panics and that every error it
// returns is a non-empty *Error whose problems say something.
func FuzzValidate(f *testing.F) {
	f.Add(templates.AuditPolicy(APIVersionV1))
	f.Add(templates.AuditPolicy(APIVersionV1beta1))
	f.Add([]byte(head + "- level: None\n  verb: [get]\n  resources: [{group: apps/v1, resources: [\"*/*\"]}]\n"))
	f.Add([]byte("a: &a [x]\nb: &b [*a, *a]\n" + head + "- level: None\n  users: *b\n- <<: *a\n"))
	f.Add([]byte("---\n---\n" + head + "- level: on\n"))
	f.Add([]byte(`{"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": []}`))
	f.Add([]byte{})

	versions := []*Version{nil, {1, 15, 0}, {1, 22, 0}, {1, 32, 13}}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range versions {
			err := Validate(data, v)
			if err == nil {
				continue
			}
			var perr *Error
			if !errors.As(err, &perr) || len(perr.Problems) == 0 {
				t.Fatalf("Validate returned %#v, want an *Error with problems", err)
			}
			for _, p := range perr.Problems {
				if p.Msg == "" || p.Line < 0 {
					t.Fatalf("bad problem %#v", p)
				}
			}
		}
	})
}

// FuzzParseVersion checks that ParseVersion never panics and that what it
// accepts formats back to something it parses to the same version.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"v1.32.13", "1.32", "v1.28.3-gke.100", "v1.32.13+k3s1", "", "v", "1..2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		again, err := ParseVersion(v.String())
		if err != nil || again != v {
			t.Fatalf("ParseVersion(%q) = %v, but ParseVersion(%q) = %v, %v", s, v, v.String(), again, err)
		}
	})
}
