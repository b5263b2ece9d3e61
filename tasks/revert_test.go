package tasks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/transport"
)

// localHost is this machine through the real connection=local transport.
func localHost(t *testing.T) *Host {
	t.Helper()
	d := transport.NewDialer(transport.DialerOptions{})
	t.Cleanup(func() { d.Close() })
	c, err := d.Dial(context.Background(), transport.Target{Name: "local", Local: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Host{Name: "local", Conn: c}
}

func build(t *testing.T, typ, label string, attrs map[string]cty.Value) Resource {
	t.Helper()
	k, ok := Lookup(typ)
	if !ok {
		t.Fatalf("no resource type %q", typ)
	}
	r, err := k.Build(label, Attrs{Value: cty.ObjectVal(attrs), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const revertPod = `apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --secure-port=6443
    name: kube-apiserver
`

// A rollback puts back only what still holds hostplan's change. A step that failed
// before writing (the manifest changed between plan and apply, as when kubeadm upgrade
// runs meanwhile) and a file someone changed after the apply must keep their content:
// the rollback used to write the plan-time copy over them.
func TestRevertOnlyOwnChange(t *testing.T) {
	const theirs = "edited by someone else\n"
	type setup struct {
		res     Resource
		path    string
		initial *string // nil: the file does not exist before
	}
	str := func(s string) *string { return &s }
	fileRes := func(t *testing.T, initial *string) setup {
		p := filepath.Join(t.TempDir(), "app.conf")
		return setup{build(t, "file", p, map[string]cty.Value{"content": cty.StringVal("new\n")}), p, initial}
	}
	podRes := func(t *testing.T, _ *string) setup {
		dir := t.TempDir()
		p := filepath.Join(dir, "manifests", "kube-apiserver.yaml")
		if err := os.Mkdir(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		return setup{build(t, "static_pod", p, map[string]cty.Value{
			"container":  cty.StringVal("kube-apiserver"),
			"flags":      cty.MapVal(map[string]cty.Value{"audit-log-maxage": cty.StringVal("30")}),
			"backup_dir": cty.StringVal(filepath.Join(dir, "backups")),
		}), p, str(revertPod)}
	}
	for _, tc := range []struct {
		name string
		make func(*testing.T, *string) setup
		init *string
		// before runs between plan and apply, after between apply and revert.
		before, after string
		applyErr      string
		want          *string // the file after the revert; nil: absent
		revertErr     string
	}{
		{name: "file replaced, reverted", make: fileRes, init: str("old\n"), want: str("old\n")},
		{name: "file created, reverted", make: fileRes, want: nil},
		{name: "file replaced, then edited", make: fileRes, init: str("old\n"), after: theirs, want: str(theirs), revertErr: "left as it is"},
		{name: "file created, then edited", make: fileRes, after: theirs, want: str(theirs), revertErr: "left as it is"},
		{name: "static pod, reverted", make: podRes, want: str(revertPod)},
		{name: "static pod changed before apply", make: podRes, before: theirs, applyErr: "changed on the host since the plan", want: str(theirs), revertErr: "left as it is"},
		{name: "static pod edited after apply", make: podRes, after: theirs, want: str(theirs), revertErr: "left as it is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			h := localHost(t)
			s := tc.make(t, tc.init)
			if s.initial != nil {
				if err := os.WriteFile(s.path, []byte(*s.initial), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			c, err := s.res.Plan(ctx, h)
			if err != nil || !c.Changed() {
				t.Fatalf("plan: %v, %+v", err, c)
			}
			edit := func(content string) {
				if content == "" {
					return
				}
				if err := os.WriteFile(s.path, []byte(content), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			edit(tc.before)
			err = s.res.Apply(ctx, h, c)
			if tc.applyErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.applyErr) {
					t.Fatalf("apply: %v, want %q", err, tc.applyErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			edit(tc.after)
			before, _ := os.Stat(s.path)
			err = s.res.(Reverter).Revert(ctx, h, c)
			if tc.revertErr == "" && err != nil || tc.revertErr != "" && (err == nil || !strings.Contains(err.Error(), tc.revertErr)) {
				t.Errorf("revert: %v, want error %q", err, tc.revertErr)
			}
			got, err := os.ReadFile(s.path)
			switch {
			case tc.want == nil && err == nil:
				t.Errorf("the file is still there after the revert: %q", got)
			case tc.want != nil && (err != nil || string(got) != *tc.want):
				t.Errorf("after the revert the file holds %q (%v), want %q", got, err, *tc.want)
			}
			if tc.revertErr != "" {
				if after, err := os.Stat(s.path); err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
					t.Errorf("a file left as it is was written again (%v)", err)
				}
			}
		})
	}
}

// A step that never wrote (an apply that did not happen, or failed before its write)
// has nothing to undo: the revert leaves the file untouched.
func TestRevertNothingWritten(t *testing.T) {
	ctx := context.Background()
	h := localHost(t)
	p := filepath.Join(t.TempDir(), "app.conf")
	if err := os.WriteFile(p, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	f := build(t, "file", p, map[string]cty.Value{"content": cty.StringVal("new\n")})
	c, err := f.Plan(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(p)
	if err := f.(Reverter).Revert(ctx, h, c); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(p)
	if err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the file was written again (%v)", err)
	}
}
