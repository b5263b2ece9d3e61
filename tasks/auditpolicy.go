package tasks

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/auditpolicy"
	"github.com/hostplan/hostplan/internal/transport"
	"github.com/hostplan/hostplan/templates"
)

func init() {
	register(&Kind{
		Type:      "audit_policy",
		LabelName: "path",
		Spec: hcldec.ObjectSpec{
			"source":             &hcldec.AttrSpec{Name: "source", Type: cty.String},
			"kubernetes_version": &hcldec.AttrSpec{Name: "kubernetes_version", Type: cty.String},
			"mode":               &hcldec.AttrSpec{Name: "mode", Type: cty.String},
			"owner":              &hcldec.AttrSpec{Name: "owner", Type: cty.String},
			"group":              &hcldec.AttrSpec{Name: "group", Type: cty.String},
		},
		Build: buildAuditPolicy,
	})
}

// AuditPolicy writes a kube-apiserver audit policy: the security center's policy that
// ships with hostplan, or the user's own. Either is checked offline, more strictly than
// the API server does, before it leaves this machine: a policy the server rejects
// crash-loops the control plane, and one with a misspelt field silently logs more.
type AuditPolicy struct {
	Path string
	// Source is the user's policy; nil means the shipped one.
	Source []byte
	// Version overrides the cluster version read from the host's facts.
	Version *auditpolicy.Version
	Perms   File // mode, owner and group only
}

func buildAuditPolicy(label string, a Attrs) (Resource, error) {
	if err := checkAbsPath(label); err != nil {
		return nil, err
	}
	p := &AuditPolicy{Path: label, Perms: File{Owner: a.String("owner", ""), Group: a.String("group", "")}}
	var err error
	if p.Perms.Mode, p.Perms.HasMode, err = a.Mode("mode"); err != nil {
		return nil, err
	}
	if !p.Perms.HasMode {
		// The policy says what is and is not logged: only root needs to read it.
		p.Perms.Mode, p.Perms.HasMode = 0o600, true
	}
	if a.Has("kubernetes_version") {
		v, err := auditpolicy.ParseVersion(a.String("kubernetes_version", ""))
		if err != nil {
			return nil, &AttrError{Attr: "kubernetes_version", Msg: err.Error()}
		}
		if _, err := auditpolicy.APIVersion(v); err != nil {
			return nil, &AttrError{Attr: "kubernetes_version", Msg: err.Error()}
		}
		p.Version = &v
	}
	if a.Has("source") {
		data, file, err := a.readLocal("source")
		if err != nil {
			return nil, &AttrError{Attr: "source", Msg: err.Error()}
		}
		if err := auditpolicy.Validate(data, p.Version); err != nil {
			return nil, &AttrError{Attr: "source", Msg: fmt.Sprintf("%s is not a policy to ship:\n  %s\n", file, strings.ReplaceAll(err.Error(), "\n", "\n  "))}
		}
		p.Source = data
	}
	return p, nil
}

// Type implements Resource.
func (p *AuditPolicy) Type() string { return "audit_policy" }

// Label implements Resource.
func (p *AuditPolicy) Label() string { return p.Path }

// Looks implements FileLooker.
func (p *AuditPolicy) Looks(*Host) []transport.Look {
	return []transport.Look{{Path: p.Path, Read: true}}
}

// file is the policy as a file resource for this host's cluster version.
func (p *AuditPolicy) file(h *Host) (*File, error) {
	v := p.Version
	if v == nil {
		if h.Facts == nil || h.Facts.KubernetesVersion == "" {
			return nil, fmt.Errorf("cannot tell the Kubernetes version of %s (no kube-apiserver image tag in /etc/kubernetes/manifests/kube-apiserver.yaml, no kube-apiserver binary): set kubernetes_version in this audit_policy", h.Name)
		}
		parsed, err := auditpolicy.ParseVersion(h.Facts.KubernetesVersion)
		if err != nil {
			return nil, fmt.Errorf("Kubernetes version of %s: %w", h.Name, err)
		}
		v = &parsed
	}
	apiVersion, err := auditpolicy.APIVersion(*v)
	if err != nil {
		return nil, fmt.Errorf("%s runs Kubernetes %s: %w", h.Name, v, err)
	}
	content := p.Source
	if content == nil {
		content = templates.AuditPolicy(apiVersion)
	}
	if err := auditpolicy.Validate(content, v); err != nil {
		return nil, fmt.Errorf("the policy does not suit Kubernetes %s on %s: %w", v, h.Name, err)
	}
	f := p.Perms
	f.Path, f.Content = p.Path, content
	return &f, nil
}

// Plan implements Resource.
func (p *AuditPolicy) Plan(ctx context.Context, h *Host) (*Change, error) {
	f, err := p.file(h)
	if err != nil {
		return nil, err
	}
	c, err := f.Plan(ctx, h)
	if err != nil {
		return nil, err
	}
	if c.Action == Update && c.File.NewExists && string(c.File.Old) != string(c.File.New) {
		c.Details = append(c.Details, "the API server reads the policy only at start: a changed policy takes effect when it restarts")
	}
	return c, nil
}

// Apply implements Resource.
func (p *AuditPolicy) Apply(ctx context.Context, h *Host, c *Change) error {
	f, err := p.file(h)
	if err != nil {
		return err
	}
	return f.Apply(ctx, h, c)
}

// Revert implements Reverter.
func (p *AuditPolicy) Revert(ctx context.Context, h *Host, c *Change) error {
	return revertFile(ctx, h, c.File)
}
