package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/kubeyaml"
	"github.com/hostplan/hostplan/internal/transport"
)

func init() {
	register(&Kind{
		Type:      "kubeadm_config",
		LabelName: "component",
		Spec: hcldec.ObjectSpec{
			"kubeconfig":  &hcldec.AttrSpec{Name: "kubeconfig", Type: cty.String},
			"extra_args":  &hcldec.AttrSpec{Name: "extra_args", Type: cty.Map(cty.String)},
			"remove_args": &hcldec.AttrSpec{Name: "remove_args", Type: cty.List(cty.String)},
			"extra_volume": &hcldec.BlockMapSpec{TypeName: "extra_volume", LabelNames: []string{"name"}, Nested: hcldec.ObjectSpec{
				"host_path":  &hcldec.AttrSpec{Name: "host_path", Type: cty.String, Required: true},
				"mount_path": &hcldec.AttrSpec{Name: "mount_path", Type: cty.String, Required: true},
				"read_only":  &hcldec.AttrSpec{Name: "read_only", Type: cty.Bool},
				"path_type":  &hcldec.AttrSpec{Name: "path_type", Type: cty.String},
			}},
		},
		Build: buildKubeadmConfig,
	})
}

// KubeadmConfig records control-plane flags and volumes in the cluster's kubeadm-config
// ConfigMap (ClusterConfiguration), which `kubeadm upgrade` regenerates the static pod
// manifests from: without this record an upgrade silently drops hand-made changes. It
// runs kubectl on the host with the master's admin kubeconfig; it is a cluster-wide
// change, so its task usually has run_once = true.
type KubeadmConfig struct {
	Component  string
	Kubeconfig string
	Edit       kubeyaml.ClusterEdit
	// Sensitive hides the diff: an argument came from a sensitive value.
	Sensitive bool
}

const kubeadmConfigMap = "configmap/kube-system/kubeadm-config"

func buildKubeadmConfig(label string, a Attrs) (Resource, error) {
	if label != "apiServer" {
		return nil, &AttrError{Attr: "component", Msg: fmt.Sprintf("%q is not supported; the component is \"apiServer\"", label)}
	}
	k := &KubeadmConfig{Component: label, Kubeconfig: a.String("kubeconfig", "/etc/kubernetes/admin.conf"),
		Edit: kubeyaml.ClusterEdit{RemoveArgs: a.Strings("remove_args")}, Sensitive: a.sensitiveAny("extra_args")}
	if !path.IsAbs(k.Kubeconfig) {
		return nil, &AttrError{Attr: "kubeconfig", Msg: fmt.Sprintf("%q is not an absolute path on the host", k.Kubeconfig)}
	}
	args := a.StringMap("extra_args")
	for _, name := range slices.Sorted(maps.Keys(args)) {
		if strings.HasPrefix(name, "-") {
			return nil, &AttrError{Attr: "extra_args", Msg: fmt.Sprintf("write names without dashes: %q, not %q", strings.TrimLeft(name, "-"), name)}
		}
		k.Edit.ExtraArgs = append(k.Edit.ExtraArgs, kubeyaml.Flag{Name: name, Value: args[name]})
	}
	if a.Has("extra_volume") {
		for it := a.Value.GetAttr("extra_volume").ElementIterator(); it.Next(); {
			key, v := it.Element()
			ev := kubeyaml.ExtraVolume{Name: key.AsString(), HostPath: v.GetAttr("host_path").AsString(), MountPath: v.GetAttr("mount_path").AsString()}
			if ro := v.GetAttr("read_only"); !ro.IsNull() {
				ev.ReadOnly = ro.True()
			}
			if t := v.GetAttr("path_type"); !t.IsNull() {
				ev.PathType = t.AsString()
				if !hostPathTypes[ev.PathType] {
					return nil, &AttrError{Attr: "extra_volume", Msg: fmt.Sprintf("path_type %q of %q is not a hostPath type", ev.PathType, ev.Name)}
				}
			}
			k.Edit.ExtraVolumes = append(k.Edit.ExtraVolumes, ev)
		}
	}
	return k, nil
}

// Type implements Resource.
func (k *KubeadmConfig) Type() string { return "kubeadm_config" }

// Label implements Resource.
func (k *KubeadmConfig) Label() string { return k.Component }

type configMap struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Data map[string]string `json:"data"`
}

func (k *KubeadmConfig) kubectl(args string) string {
	return "kubectl --kubeconfig " + transport.ShellQuote(k.Kubeconfig) + " --namespace kube-system " + args
}

func (k *KubeadmConfig) read(ctx context.Context, h *Host) (*configMap, error) {
	res, err := h.Conn.Run(ctx, k.kubectl("get configmap kubeadm-config --output json"), nil)
	if err != nil {
		return nil, err
	}
	if res.ExitCode == 127 {
		return nil, fmt.Errorf("kubectl is not installed on %s", h.Name)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("read %s: kubectl: %s", kubeadmConfigMap, strings.TrimSpace(string(res.Stderr)))
	}
	var cm configMap
	if err := json.Unmarshal(res.Stdout, &cm); err != nil {
		return nil, fmt.Errorf("read %s: %w", kubeadmConfigMap, err)
	}
	if _, ok := cm.Data["ClusterConfiguration"]; !ok {
		return nil, fmt.Errorf("%s has no ClusterConfiguration (was the cluster made with kubeadm?)", kubeadmConfigMap)
	}
	return &cm, nil
}

// Plan implements Resource.
func (k *KubeadmConfig) Plan(ctx context.Context, h *Host) (*Change, error) {
	cm, err := k.read(ctx, h)
	if err != nil {
		return nil, err
	}
	old := []byte(cm.Data["ClusterConfiguration"])
	updated, err := kubeyaml.EditClusterConfiguration(old, k.Edit)
	if err != nil {
		return nil, fmt.Errorf("%s ClusterConfiguration: %w", kubeadmConfigMap, err)
	}
	c := &Change{Action: NoOp, File: &FileChange{Path: kubeadmConfigMap + ":ClusterConfiguration", Old: old, New: updated, OldExists: true, NewExists: true, Sensitive: k.Sensitive}}
	if !bytes.Equal(old, updated) {
		c.Action = Update
		c.Details = append(c.Details, "recorded for kubeadm upgrade (resourceVersion "+cm.Metadata.ResourceVersion+")")
		c.ReadVersion = cm.Metadata.ResourceVersion
	}
	return c, nil
}

// Apply implements Resource. The patch carries the resourceVersion the plan read, so a
// ConfigMap changed since then is refused by the API server instead of overwritten.
func (k *KubeadmConfig) Apply(ctx context.Context, h *Host, c *Change) error {
	return k.patch(ctx, h, c.File.New, c.ReadVersion)
}

// Revert implements Reverter. Like a file's, the revert happens only while the ConfigMap holds what Apply wrote, and
// carries the resourceVersion it read: someone else's later change is never undone.
func (k *KubeadmConfig) Revert(ctx context.Context, h *Host, c *Change) error {
	cm, err := k.read(ctx, h)
	if err != nil {
		return err
	}
	switch cur := []byte(cm.Data["ClusterConfiguration"]); {
	case bytes.Equal(cur, c.File.New):
	case bytes.Equal(cur, c.File.Old):
		return nil
	default:
		return fmt.Errorf("%s changed after hostplan's change; left as it is rather than overwritten with the copy from before the change", kubeadmConfigMap)
	}
	return k.patch(ctx, h, c.File.Old, cm.Metadata.ResourceVersion)
}

func (k *KubeadmConfig) patch(ctx context.Context, h *Host, clusterConfig []byte, resourceVersion string) error {
	patch := map[string]any{"data": map[string]string{"ClusterConfiguration": string(clusterConfig)}}
	if resourceVersion != "" {
		patch["metadata"] = map[string]string{"resourceVersion": resourceVersion}
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	res, err := h.Conn.Run(ctx, k.kubectl("patch configmap kubeadm-config --type merge --patch-file /dev/stdin"), bytes.NewReader(body))
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		msg := strings.TrimSpace(string(res.Stderr))
		if strings.Contains(msg, "the object has been modified") {
			return fmt.Errorf("%s changed since the plan was made; run plan again", kubeadmConfigMap)
		}
		return fmt.Errorf("patch %s: kubectl: %s", kubeadmConfigMap, msg)
	}
	return nil
}
