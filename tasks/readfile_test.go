package tasks

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/templates"
)

// Local files that resources ship are read through Attrs.ReadFile, so a saved plan can
// hand over the bytes that were reviewed instead of what the disk holds now.
func TestAttrsReadFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "on-disk"), []byte("disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	policy := templates.AuditPolicy("audit.k8s.io/v1")
	saved := map[string][]byte{
		filepath.Join(dir, "blob"):        {0xff, 0x00, 'x'},
		filepath.Join(dir, "policy.yaml"): policy,
	}
	fromSaved := func(p string) ([]byte, error) {
		if data, ok := saved[p]; ok {
			return data, nil
		}
		return nil, errors.New("not saved: " + p)
	}
	cases := []struct {
		name, typ, source string
		readFile          func(string) ([]byte, error)
		want              []byte
		wantErr           string
	}{
		{"file from the reader", "file", "blob", fromSaved, saved[filepath.Join(dir, "blob")], ""},
		{"audit policy from the reader", "audit_policy", "policy.yaml", fromSaved, policy, ""},
		{"nil reads the disk", "file", "on-disk", nil, []byte("disk"), ""},
		{"reader's own error", "file", "on-disk", fromSaved, nil, "cannot read " + filepath.Join(dir, "on-disk") + ": not saved: "},
		{"disk error", "file", "gone", nil, nil, "cannot read " + filepath.Join(dir, "gone") + ": no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, _ := Lookup(tc.typ)
			a := Attrs{
				Value:    cty.ObjectVal(map[string]cty.Value{"source": cty.StringVal(tc.source)}),
				Dir:      dir,
				ReadFile: tc.readFile,
			}
			res, err := k.Build("/etc/x", a)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error: got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			switch r := res.(type) {
			case *File:
				got = r.Content
			case *AuditPolicy:
				got = r.Source
			}
			if string(got) != string(tc.want) {
				t.Errorf("content: got %q, want %q", got, tc.want)
			}
		})
	}
}
