package tasks

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"

	"github.com/hostplan/hostplan/internal/transport"
)

func init() {
	register(&Kind{
		Type:      "kubectl_apply",
		LabelName: "name",
		Spec: hcldec.ObjectSpec{
			"manifest":   &hcldec.AttrSpec{Name: "manifest", Type: cty.String, Required: true},
			"kubeconfig": &hcldec.AttrSpec{Name: "kubeconfig", Type: cty.String},
		},
		Build: buildKubectlApply,
	})
}

// KubectlApply applies a Kubernetes manifest with kubectl on the host (where the admin
// kubeconfig is), like the Security Center's onboarding command. The plan is
// `kubectl diff`, so it shows what the API server would change and is empty once the
// manifest is applied. The manifest travels on stdin: nothing is written to the host's
// disk (the onboarding manifest carries credentials).
type KubectlApply struct {
	Name       string
	Manifest   []byte
	Kubeconfig string
	Sensitive  bool
}

func buildKubectlApply(label string, a Attrs) (Resource, error) {
	k := &KubectlApply{Name: label, Manifest: []byte(a.String("manifest", "")),
		Kubeconfig: a.String("kubeconfig", "/etc/kubernetes/admin.conf"), Sensitive: a.sensitiveAny("manifest")}
	if len(bytes.TrimSpace(k.Manifest)) == 0 {
		return nil, &AttrError{Attr: "manifest", Msg: "the manifest is empty"}
	}
	if !path.IsAbs(k.Kubeconfig) {
		return nil, &AttrError{Attr: "kubeconfig", Msg: fmt.Sprintf("%q is not an absolute path on the host", k.Kubeconfig)}
	}
	return k, nil
}

// Type implements Resource.
func (k *KubectlApply) Type() string { return "kubectl_apply" }

// Label implements Resource.
func (k *KubectlApply) Label() string { return k.Name }

// kubectl runs kubectl after checking it and the kubeconfig are there, so a missing
// one is reported as such (exit 127 and 126) rather than as a kubectl error.
func (k *KubectlApply) kubectl(args string) string {
	kc := transport.ShellQuote(k.Kubeconfig)
	return "command -v kubectl >/dev/null 2>&1 || exit 127; test -r " + kc + " || exit 126; kubectl --kubeconfig " + kc + " " + args
}

// Plan implements Resource. kubectl diff exits 0 when nothing would change, 1 when
// something would, and more on errors.
func (k *KubectlApply) Plan(ctx context.Context, h *Host) (*Change, error) {
	res, err := h.Conn.Run(ctx, k.kubectl("diff --filename -"), bytes.NewReader(k.Manifest))
	if err != nil {
		return nil, err
	}
	switch res.ExitCode {
	case 0:
		return &Change{Action: NoOp}, nil
	case 1:
		c := &Change{Action: Update, Details: []string{"kubectl apply (the manifest goes on stdin; nothing is written to disk)"}}
		if k.Sensitive {
			c.Details = append(c.Details, "(sensitive manifest; kubectl diff hidden)")
		} else {
			c.Diff = cleanKubectlDiff(string(res.Stdout))
		}
		return c, nil
	case 127:
		return nil, fmt.Errorf("kubectl is not installed on %s (it is on a kubeadm master; or run this task on a host that has it)", h.Name)
	case 126:
		return nil, fmt.Errorf("no readable kubeconfig at %s on %s (set kubeconfig, or run this task on a master)", k.Kubeconfig, h.Name)
	}
	// A server-side dry run cannot place objects in a namespace the same manifest
	// creates: everything in the manifest is then new, so show it (secrets masked).
	if ns, ok := missingNamespace(string(res.Stderr)); ok && createsNamespace(k.Manifest, ns) {
		c := &Change{Action: Create, Details: []string{fmt.Sprintf("namespace %s does not exist yet, so kubectl diff cannot compare: every object is new", ns)}}
		if k.Sensitive {
			c.Details = append(c.Details, "(sensitive manifest; content hidden)")
		} else {
			c.Diff = newObjectsDiff(k.Manifest)
		}
		return c, nil
	}
	return nil, fmt.Errorf("kubectl diff: %s", kubectlError(res))
}

// cleanKubectlDiff drops the `diff -u -N /tmp/LIVE-... /tmp/MERGED-...` command lines
// kubectl prints between objects, and shortens the temp paths in the headers to the
// object names they stand for.
func cleanKubectlDiff(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		switch {
		case strings.HasPrefix(line, "diff -u -N "):
			continue
		case strings.HasPrefix(line, "--- "), strings.HasPrefix(line, "+++ "):
			f := strings.Fields(line)
			if len(f) >= 2 {
				name := path.Base(f[1])
				if strings.HasPrefix(line, "--- ") {
					line = "--- live/" + name + "\n"
				} else {
					line = "+++ planned/" + name + "\n"
				}
			}
		}
		b.WriteString(line)
	}
	return b.String()
}

func kubectlError(res *transport.Result) string {
	msg := strings.TrimSpace(string(res.Stderr))
	if msg == "" {
		msg = fmt.Sprintf("exit %d", res.ExitCode)
	}
	return msg
}

// Apply implements Resource.
func (k *KubectlApply) Apply(ctx context.Context, h *Host, c *Change) error {
	res, err := h.Conn.Run(ctx, k.kubectl("apply --filename -"), bytes.NewReader(k.Manifest))
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("kubectl apply: %s", kubectlError(res))
	}
	return nil
}

var namespaceNotFound = regexp.MustCompile(`namespaces "([a-z0-9.-]+)" not found`)

func missingNamespace(stderr string) (string, bool) {
	m := namespaceNotFound.FindStringSubmatch(stderr)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// manifestDocs decodes a multi-document manifest.
func manifestDocs(manifest []byte) []*yaml.Node {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			return docs
		}
		if len(n.Content) == 1 && n.Content[0].Kind == yaml.MappingNode {
			docs = append(docs, n.Content[0])
		}
	}
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func createsNamespace(manifest []byte, ns string) bool {
	for _, d := range manifestDocs(manifest) {
		if kind := mapValue(d, "kind"); kind != nil && kind.Value == "Namespace" {
			if md := mapValue(d, "metadata"); md != nil && md.Kind == yaml.MappingNode {
				if name := mapValue(md, "name"); name != nil && name.Value == ns {
					return true
				}
			}
		}
	}
	return false
}

// newObjectsDiff shows every object of the manifest as added, with the values of
// Secrets replaced by "***" as kubectl diff does.
func newObjectsDiff(manifest []byte) string {
	var b strings.Builder
	for _, d := range manifestDocs(manifest) {
		if kind := mapValue(d, "kind"); kind != nil && kind.Value == "Secret" {
			for _, field := range []string{"data", "stringData"} {
				if m := mapValue(d, field); m != nil && m.Kind == yaml.MappingNode {
					for i := 1; i < len(m.Content); i += 2 {
						m.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Value: "***"}
					}
				}
			}
		}
		var out bytes.Buffer
		enc := yaml.NewEncoder(&out)
		enc.SetIndent(2)
		if err := enc.Encode(d); err != nil {
			continue
		}
		name := "object"
		if md := mapValue(d, "metadata"); md != nil && md.Kind == yaml.MappingNode {
			if n := mapValue(md, "name"); n != nil {
				name = n.Value
			}
		}
		if kind := mapValue(d, "kind"); kind != nil {
			name = kind.Value + "/" + name
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		fmt.Fprintf(&b, "--- /dev/null\n+++ planned/%s\n@@ -0,0 +1,%d @@\n", name, len(lines))
		for _, l := range lines {
			b.WriteString("+" + l + "\n")
		}
	}
	return b.String()
}
