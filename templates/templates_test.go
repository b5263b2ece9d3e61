package templates_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hostplan/hostplan/templates"
)

type groupResources struct {
	Group         string   `yaml:"group"`
	Resources     []string `yaml:"resources"`
	ResourceNames []string `yaml:"resourceNames"`
}

type rule struct {
	Level           string           `yaml:"level"`
	Users           []string         `yaml:"users"`
	UserGroups      []string         `yaml:"userGroups"`
	Verbs           []string         `yaml:"verbs"`
	Namespaces      []string         `yaml:"namespaces"`
	NonResourceURLs []string         `yaml:"nonResourceURLs"`
	Resources       []groupResources `yaml:"resources"`
	OmitStages      []string         `yaml:"omitStages"`
}

type policy struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	OmitStages []string `yaml:"omitStages"`
	Rules      []rule   `yaml:"rules"`
}

func core(resources ...string) []groupResources {
	return []groupResources{{Group: "", Resources: resources}}
}

// knownGroups are the API groups domain.md 3(a) lists for the Request and
// RequestResponse rules, in its order.
var knownGroups = []string{"", "admissionregistration.k8s.io", "apps", "authentication.k8s.io",
	"authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io", "extensions",
	"networking.k8s.io", "policy", "rbac.authorization.k8s.io", "settings.k8s.io", "storage.k8s.io"}

func groups(names []string) []groupResources {
	var out []groupResources
	for _, g := range names {
		out = append(out, groupResources{Group: g})
	}
	return out
}

func decode(t *testing.T, data []byte) policy {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p policy
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decoding the rendered policy: %v", err)
	}
	return p
}

// TestAuditPolicyFollowsDomain pins the shipped policy to docs/domain.md 3(a)
// rule by rule, so that dropping, reordering or widening a rule fails here.
func TestAuditPolicyFollowsDomain(t *testing.T) {
	p := decode(t, templates.AuditPolicy("audit.k8s.io/v1"))

	if p.APIVersion != "audit.k8s.io/v1" || p.Kind != "Policy" {
		t.Errorf("apiVersion/kind = %q/%q, want audit.k8s.io/v1/Policy", p.APIVersion, p.Kind)
	}
	if !reflect.DeepEqual(p.OmitStages, []string{"RequestReceived"}) {
		t.Errorf("omitStages = %q, want [RequestReceived]", p.OmitStages)
	}

	want := []struct {
		name string
		rule rule
	}{
		{"kube-proxy watches endpoints and services", rule{Level: "None",
			Users: []string{"system:kube-proxy"}, Verbs: []string{"watch"},
			Resources: core("endpoints", "services")}},
		{"system:unsecured gets configmaps in kube-system", rule{Level: "None",
			Users: []string{"system:unsecured"}, Namespaces: []string{"kube-system"}, Verbs: []string{"get"},
			Resources: core("configmaps")}},
		{"kubelet gets nodes", rule{Level: "None",
			Users: []string{"kubelet"}, Verbs: []string{"get"},
			Resources: core("nodes")}},
		{"system:nodes gets nodes", rule{Level: "None",
			UserGroups: []string{"system:nodes"}, Verbs: []string{"get"},
			Resources: core("nodes")}},
		{"controllers get and update endpoints in kube-system", rule{Level: "None",
			Users: []string{"system:kube-controller-manager", "system:kube-scheduler",
				"system:serviceaccount:kube-system:endpoint-controller"},
			Verbs: []string{"get", "update"}, Namespaces: []string{"kube-system"},
			Resources: core("endpoints")}},
		{"system:apiserver gets namespaces", rule{Level: "None",
			Users: []string{"system:apiserver"}, Verbs: []string{"get"},
			Resources: core("namespaces")}},
		{"read-only URLs", rule{Level: "None",
			NonResourceURLs: []string{"/healthz*", "/version", "/swagger*"}}},
		{"events", rule{Level: "None", Resources: core("events")}},
		{"secrets, configmaps, tokenreviews at Metadata", rule{Level: "Metadata",
			Resources: []groupResources{
				{Group: "", Resources: []string{"secrets", "configmaps"}},
				{Group: "authentication.k8s.io", Resources: []string{"tokenreviews"}},
			}}},
		{"reads of known groups at Request", rule{Level: "Request",
			Verbs: []string{"get", "list", "watch"}, Resources: groups(knownGroups)}},
		{"everything else in known groups at RequestResponse", rule{Level: "RequestResponse",
			Resources: groups(knownGroups)}},
		{"default Metadata", rule{Level: "Metadata"}},
	}

	if len(p.Rules) != len(want) {
		t.Errorf("the policy has %d rules, domain.md lists %d", len(p.Rules), len(want))
	}
	for i, w := range want {
		if i >= len(p.Rules) {
			t.Errorf("rules[%d] (%s) is missing", i, w.name)
			continue
		}
		if !reflect.DeepEqual(p.Rules[i], w.rule) {
			t.Errorf("rules[%d] (%s):\n got %+v\nwant %+v", i, w.name, p.Rules[i], w.rule)
		}
	}
}

func TestAuditPolicyAPIVersion(t *testing.T) {
	tests := []struct {
		apiVersion string
		plain      bool // written unquoted, as the vendor's file has it
	}{
		{"audit.k8s.io/v1", true},
		{"audit.k8s.io/v1beta1", true},
		{"", false},
		{"true", false},
		{"null", false},
		{"v1", false},
		{"audit.k8s.io/v1\nkind: Role", false},
		{"a: b", false},
		{"\"quoted\" \\ back\tslash", false},
		{"# not a comment", false},
		{"ünïcode/v1", false},
	}
	for _, tt := range tests {
		t.Run(tt.apiVersion, func(t *testing.T) {
			out := templates.AuditPolicy(tt.apiVersion)
			p := decode(t, out)
			if p.APIVersion != tt.apiVersion {
				t.Errorf("apiVersion = %q, want %q", p.APIVersion, tt.apiVersion)
			}
			if p.Kind != "Policy" || len(p.Rules) == 0 {
				t.Errorf("the rest of the policy changed: kind %q, %d rules", p.Kind, len(p.Rules))
			}
			plainLine := "\napiVersion: " + tt.apiVersion + "\n"
			if got := strings.Contains(string(out), plainLine); got != tt.plain {
				t.Errorf("written unquoted = %v, want %v", got, tt.plain)
			}
		})
	}
}

func TestRawTemplate(t *testing.T) {
	raw, err := templates.FS.ReadFile(templates.AuditPolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(raw, []byte(templates.AuditPolicyAPIVersionPlaceholder)); n != 1 {
		t.Fatalf("placeholder appears %d times in the raw template, want 1", n)
	}
	// The raw file must stay valid YAML so editors and linters can read it.
	if p := decode(t, raw); p.APIVersion != templates.AuditPolicyAPIVersionPlaceholder {
		t.Errorf("raw apiVersion = %q", p.APIVersion)
	}
	if bytes.Contains(templates.AuditPolicy("audit.k8s.io/v1"), []byte(templates.AuditPolicyAPIVersionPlaceholder)) {
		t.Error("the rendered policy still holds the placeholder")
	}
}
