package auditpolicy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// head is the start of a valid policy; cases append rules to it.
const head = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"

// want is an expected problem: Msg is a substring of the real message.
type want struct {
	line int
	path string
	msg  string
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		policy  string
		version string // "" means Validate(data, nil)
		want    []want
	}{
		// Valid policies.
		{name: "minimal", policy: head + "- level: Metadata\n"},
		{name: "every field", version: "v1.32.13", policy: `---
apiVersion: audit.k8s.io/v1
kind: Policy
metadata:
  name: hostplan
  labels: {app: audit}
  annotations: {"note": "yes"}
omitStages: [RequestReceived]
omitManagedFields: true
rules:
  - level: None
    users: ["system:kube-proxy", "yes"]
    userGroups: ["system:nodes"]
    verbs: [get, list, watch, create, update, patch, delete, deletecollection, proxy]
    namespaces: ["", kube-system]
    resources:
      - group: ""
        resources: ["pods", "pods/log", "pods/*", "*/scale", "*"]
        resourceNames: [web-0]
      - resources: [configmaps]
      - group: apps
    omitStages: [ResponseStarted, ResponseComplete, Panic]
    omitManagedFields: false
  - level: Request
    verbs: [post, put, head, options]
    nonResourceURLs: ["*", "/healthz*", /metrics]
  - level: RequestResponse
    omitStages: []
---
`},
		{name: "JSON", policy: `{"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}`},
		{name: "aliases", policy: head + `- level: Request
  verbs: [get]
  resources: &known
    - group: ""
    - group: apps
- level: RequestResponse
  resources: *known
- level: Metadata
`},
		{name: "v1beta1 without a version", policy: "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n"},
		{name: "metadata null", policy: head + "- level: None\nmetadata:\n"},

		// The file as a whole.
		{name: "empty file", policy: "", want: []want{{1, "", "the policy file is empty"}}},
		{name: "blank file", policy: " \n\n\t\n", want: []want{{1, "", "the policy file is empty"}}},
		{name: "comments only", policy: "# audit\n# policy\n", want: []want{{1, "", "holds no policy"}}},
		{name: "empty document", policy: "---\n", want: []want{{1, "", "holds no policy"}}},
		{name: "null document", policy: "~\n", want: []want{{1, "", "holds no policy"}}},
		{name: "not YAML", policy: "apiVersion: [audit.k8s.io/v1\nkind: Policy\n",
			want: []want{{1, "", "not valid YAML"}}},
		{name: "not YAML on line 1", policy: "apiVersion: a: b\n", want: []want{{1, "", "not valid YAML"}}},
		{name: "tab indentation", policy: head + "- level: None\n\t verbs: [get]\n",
			want: []want{{4, "", "not valid YAML"}}},
		{name: "unknown anchor", policy: head + "- level: None\n  users: *who\n",
			want: []want{{5, "", "unknown anchor"}}},
		{name: "multi-doc", policy: head + "- level: None\n---\n" + head + "- level: Metadata\n",
			want: []want{{6, "", "a second YAML document"}}},
		{name: "policy in second document", policy: "---\n---\n" + head + "- level: None\n",
			want: []want{{3, "", "not in the first YAML document"}}},
		{name: "top-level list", policy: "- level: None\n",
			want: []want{{1, "", "expected an audit Policy (a mapping), found a list"}}},
		{name: "top-level string", policy: "audit policy\n",
			want: []want{{1, "", `found the string "audit policy"`}}},

		// apiVersion, kind, rules.
		{name: "missing apiVersion", policy: "kind: Policy\nrules:\n- level: None\n",
			want: []want{{1, "apiVersion", "required"}}},
		{name: "apiVersion v1", policy: "apiVersion: v1\nkind: Policy\nrules:\n- level: None\n",
			want: []want{{1, "apiVersion", `unknown apiVersion "v1": the audit policy group is audit.k8s.io`}}},
		{name: "apiVersion v2", policy: "apiVersion: audit.k8s.io/v2\nkind: Policy\nrules:\n- level: None\n",
			want: []want{{1, "apiVersion", `unknown apiVersion "audit.k8s.io/v2"`}}},
		{name: "apiVersion number", policy: "apiVersion: 1\nkind: Policy\nrules:\n- level: None\n",
			want: []want{{1, "apiVersion", "expected a string, found a number (1)"}}},
		{name: "unrendered template", policy: "apiVersion: __AUDIT_API_VERSION__\nkind: Policy\nrules:\n- level: None\n",
			want: []want{{1, "apiVersion", `unknown apiVersion "__AUDIT_API_VERSION__"`}}},
		{name: "missing kind", policy: "apiVersion: audit.k8s.io/v1\nrules:\n- level: None\n",
			want: []want{{1, "kind", "required"}}},
		{name: "kind Role", policy: "apiVersion: audit.k8s.io/v1\nkind: Role\nrules:\n- level: None\n",
			want: []want{{2, "kind", `must be Policy, not "Role"`}}},
		{name: "kind lower-case", policy: "apiVersion: audit.k8s.io/v1\nkind: policy\nrules:\n- level: None\n",
			want: []want{{2, "kind", "case-sensitive"}}},
		{name: "missing rules", policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\n",
			want: []want{{1, "rules", "loaded illegal policy with 0 rules"}}},
		{name: "rules: []", policy: head[:len(head)-1] + " []\n",
			want: []want{{3, "rules", "rules is empty"}}},
		{name: "rules null", policy: head,
			want: []want{{3, "rules", "rules has no value"}}},
		{name: "rules a mapping", policy: head + "  level: None\n",
			want: []want{{4, "rules", "expected a list of rules, found a mapping"}}},
		{name: "rule a string", policy: head + "- Metadata\n",
			want: []want{{4, "rules[0]", `expected a rule (a mapping), found the string "Metadata"`}}},

		// Unknown and duplicate fields.
		{name: "verb typo", policy: head + "- level: None\n  users: [a]\n- level: None\n  users: [b]\n- level: None\n  users: [c]\n- level: None\n  verb: [get]\n  users: [a]\n- level: Metadata\n",
			want: []want{{11, "rules[3]", `unknown field "verb" (did you mean "verbs"?)`}}},
		// Dropping the misspelt field leaves a catch-all: both are reported.
		{name: "field case", policy: head + "- level: None\n  Verbs: [get]\n- level: Metadata\n",
			want: []want{
				{4, "rules[0]", "this rule matches every request, so the 1 rule(s) after it never apply"},
				{5, "rules[0]", `unknown field "Verbs" (did you mean "verbs"?)`},
			}},
		{name: "level typo", policy: head + "- levle: None\n",
			want: []want{{4, "rules[0]", `unknown field "levle" (did you mean "level"?)`}, {4, "rules[0].level", "required"}}},
		{name: "top-level typo", policy: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrule:\n- level: None\n",
			want: []want{{1, "rules", "required"}, {3, "", `unknown field "rule" (did you mean "rules"?)`}}},
		{name: "rule field at top level", policy: head + "- level: None\nverbs: [get]\n",
			want: []want{{5, "", `unknown field "verbs" (a rule field: it belongs in an entry of rules)`}}},
		{name: "policy field in a rule", policy: head + "- level: None\n  kind: Policy\n",
			want: []want{{5, "rules[0]", "a policy field: it belongs at the top level"}}},
		{name: "RBAC apiGroups", policy: head + "- level: None\n  apiGroups: [apps]\n",
			want: []want{{5, "rules[0]", `unknown field "apiGroups" (audit rules name groups inside resources`}}},
		{name: "unknown field in resources", policy: head + "- level: None\n  resources:\n  - group: apps\n    resource: [deployments]\n",
			want: []want{{7, "rules[0].resources[0]", `unknown field "resource" (did you mean "resources"?)`}}},
		{name: "unknown metadata field", policy: head + "- level: None\nmetadata:\n  nmae: x\n",
			want: []want{{6, "metadata", `unknown field "nmae" (did you mean "name"?)`}}},
		{name: "duplicate top-level key", policy: head + "- level: None\nkind: Policy\n",
			want: []want{{5, "", `duplicate field "kind" (first at line 2)`}}},
		{name: "duplicate rule key", policy: head + "- level: None\n  verbs: [get]\n  verbs: [list]\n",
			want: []want{{6, "rules[0]", `duplicate field "verbs" (first at line 5)`}}},
		{name: "merge key", policy: "base: &b {level: None}\n" + head + "- <<: *b\n",
			want: []want{{1, "", `unknown field "base"`}, {5, "rules[0]", "merge keys (<<) are not supported"}, {5, "rules[0].level", "required"}}},
		{name: "non-string key", policy: head + "- level: None\n  1: x\n",
			want: []want{{5, "rules[0]", "field names must be strings, found a number (1)"}}},

		// Levels and stages.
		{name: "level Everything", policy: head + "- level: Everything\n",
			want: []want{{4, "rules[0].level", `unknown level "Everything": must be one of None, Metadata, Request, RequestResponse`}}},
		{name: "level case", policy: head + "- level: metadata\n",
			want: []want{{4, "rules[0].level", `(did you mean "Metadata"?)`}}},
		{name: "level empty", policy: head + "- level: \"\"\n",
			want: []want{{4, "rules[0].level", `unknown level ""`}}},
		{name: "level null", policy: head + "- level:\n",
			want: []want{{4, "rules[0].level", "expected a string, found no value (null)"}}},
		{name: "stage Done", policy: "omitStages: [Done]\n" + head + "- level: None\n  omitStages: [Done]\n",
			want: []want{{1, "omitStages[0]", `unknown stage "Done"`}, {6, "rules[0].omitStages[0]", `unknown stage "Done"`}}},
		{name: "stage misspelt", policy: "omitStages: [RequestRecieved]\n" + head + "- level: None\n",
			want: []want{{1, "omitStages[0]", `(did you mean "RequestReceived"?)`}}},
		{name: "stages a string", policy: "omitStages: RequestReceived\n" + head + "- level: None\n",
			want: []want{{1, "omitStages", `expected a list of stages, found the string "RequestReceived"`}}},
		{name: "stages null", policy: "omitStages:\n" + head + "- level: None\n",
			want: []want{{1, "omitStages", "omitStages has no value"}}},

		// Types.
		{name: "string instead of list", policy: head + "- level: None\n  verbs: get\n",
			want: []want{{5, "rules[0].verbs", `expected a list of strings, found the string "get" (write verbs: [get])`}}},
		{name: "mapping instead of list", policy: head + "- level: None\n  users: {a: b}\n",
			want: []want{{5, "rules[0].users", "expected a list of strings, found a mapping"}}},
		{name: "list in list", policy: head + "- level: None\n  users: [[a]]\n",
			want: []want{{5, "rules[0].users[0]", "expected a string, found a list"}}},
		{name: "number in list", policy: head + "- level: None\n  users: [1001]\n",
			want: []want{{5, "rules[0].users[0]", "expected a string, found a number (1001)"}}},
		{name: "YAML 1.1 boolean", policy: head + "- level: None\n  users: [admin, on]\n",
			want: []want{{5, "rules[0].users[1]", `kube-apiserver reads the unquoted on as a boolean`}}},
		{name: "YAML boolean", policy: head + "- level: None\n  users: [true]\n",
			want: []want{{5, "rules[0].users[0]", "expected a string, found a boolean (true)"}}},
		{name: "null in list", policy: head + "- level: None\n  users: [~]\n",
			want: []want{{5, "rules[0].users[0]", "expected a string, found no value (null)"}}},
		{name: "resources as strings", policy: head + "- level: None\n  resources: [pods]\n",
			want: []want{{5, "rules[0].resources[0]", `found the string "pods": write - group: ""`}}},
		{name: "resources a string", policy: head + "- level: None\n  resources: pods\n",
			want: []want{{5, "rules[0].resources", `expected a list of {group, resources} entries, found the string "pods"`}}},
		{name: "omitManagedFields string", policy: "omitManagedFields: \"true\"\n" + head + "- level: None\n  omitManagedFields: yes\n",
			want: []want{{1, "omitManagedFields", "expected true or false"}, {6, "rules[0].omitManagedFields", "expected true or false"}}},
		{name: "metadata a string", policy: "metadata: audit\n" + head + "- level: None\n",
			want: []want{{1, "metadata", "expected object metadata (a mapping)"}}},
		{name: "label value not a string", policy: "metadata:\n  labels: {a: 1}\n" + head + "- level: None\n",
			want: []want{{2, `metadata.labels["a"]`, "expected a string, found a number (1)"}}},

		// Empty selectors widen a rule.
		{name: "empty users", policy: head + "- level: None\n  users: []\n",
			want: []want{{5, "rules[0].users", "users is empty: an empty list matches every user"}}},
		{name: "null verbs", policy: head + "- level: None\n  verbs:\n  resources: [{group: \"\", resources: [secrets]}]\n",
			want: []want{{5, "rules[0].verbs", "verbs has no value: an empty verbs list matches every verb"}}},
		{name: "empty resources", policy: head + "- level: None\n  resources: []\n",
			want: []want{{5, "rules[0].resources", "resources is empty"}}},
		{name: "null resources", policy: head + "- level: None\n  resources:\n",
			want: []want{{5, "rules[0].resources", "resources has no value"}}},
		{name: "empty group resources", policy: head + "- level: None\n  resources:\n  - group: apps\n    resources: []\n",
			want: []want{{7, "rules[0].resources[0].resources", "matches every resource in the group"}}},

		// kube-apiserver's own validation.
		{name: "nonResourceURLs with namespaces", policy: head + "- level: None\n  namespaces: [default]\n  nonResourceURLs: [/healthz]\n",
			want: []want{{6, "rules[0].nonResourceURLs", "rules cannot apply to both regular resources and non-resource URLs"}}},
		{name: "nonResourceURLs with resources", policy: head + "- level: None\n  resources: [{group: \"\"}]\n  nonResourceURLs: [/healthz]\n",
			want: []want{{6, "rules[0].nonResourceURLs", "rules cannot apply to both"}}},
		{name: "nonResourceURL without slash", policy: head + "- level: None\n  nonResourceURLs: [healthz]\n",
			want: []want{{5, "rules[0].nonResourceURLs[0]", "must begin with a '/'"}}},
		{name: "nonResourceURL inner wildcard", policy: head + "- level: None\n  nonResourceURLs: [\"/api/*/x\"]\n",
			want: []want{{5, "rules[0].nonResourceURLs[0]", "'*' must be the final character"}}},
		{name: "group with version", policy: head + "- level: None\n  resources: [{group: apps/v1}]\n",
			want: []want{{5, "rules[0].resources[0].group", `group names carry no version (write "apps")`}}},
		{name: "group upper-case", policy: head + "- level: None\n  resources: [{group: Apps}]\n",
			want: []want{{5, "rules[0].resources[0].group", `invalid API group "Apps"`}}},
		{name: "group core", policy: head + "- level: None\n  resources: [{group: core}]\n",
			want: []want{{5, "rules[0].resources[0].group", `there is no API group "core"`}}},
		{name: "group null", policy: head + "- level: None\n  resources:\n  - group:\n    resources: [pods]\n",
			want: []want{{6, "rules[0].resources[0].group", "group has no value"}}},
		{name: "resourceNames without resources", policy: head + "- level: None\n  resources:\n  - group: \"\"\n    resourceNames: [kube-root-ca.crt]\n",
			want: []want{{7, "rules[0].resources[0].resourceNames", "using resourceNames requires at least one resource"}}},

		// Values that never match.
		{name: "resource forms", policy: head + "- level: None\n  resources:\n  - resources: [Pods, \"pods/\", \"*/*\", \"po*\", a/b/c, \"\"]\n",
			want: []want{
				{6, "rules[0].resources[0].resources[0]", "lower-case plurals"},
				{6, "rules[0].resources[0].resources[1]", `"*" must stand alone`},
				{6, "rules[0].resources[0].resources[2]", `"*/*" matches no resource`},
				{6, "rules[0].resources[0].resources[3]", `"*" must stand alone`},
				{6, "rules[0].resources[0].resources[4]", `a resource is "name" or "name/subresource"`},
				{6, "rules[0].resources[0].resources[5]", `"" matches no resource`},
			}},
		{name: "verbs", policy: head + "- level: None\n  verbs: [\"*\", GET, lsit, escalate]\n",
			want: []want{
				{5, "rules[0].verbs[0]", `audit rules do not expand "*"`},
				{5, "rules[0].verbs[1]", `unknown verb "GET" (did you mean "get"?)`},
				{5, "rules[0].verbs[2]", `unknown verb "lsit" (did you mean "list"?)`},
				{5, "rules[0].verbs[3]", `unknown verb "escalate": must be one of get, list`},
			}},
		{name: "namespaces", policy: head + "- level: None\n  namespaces: [\"*\", Kube-System]\n",
			want: []want{
				{5, "rules[0].namespaces[0]", `audit rules do not expand "*"`},
				{5, "rules[0].namespaces[1]", "lower-case DNS labels"},
			}},
		{name: "users", policy: head + "- level: None\n  users: [\"\", \"*\"]\n  userGroups: [\"*\"]\n",
			want: []want{
				{5, "rules[0].users[0]", "an empty user name matches no request"},
				{5, "rules[0].users[1]", `matches only a user literally named "*"`},
				{6, "rules[0].userGroups[0]", `matches only a group literally named "*"`},
			}},
		{name: "resourceNames wildcard", policy: head + "- level: None\n  resources: [{resources: [pods], resourceNames: [\"*\"]}]\n",
			want: []want{{5, "rules[0].resources[0].resourceNames[0]", `"*" matches no object name`}}},
		{name: "catch-all before the end", policy: head + "- level: None\n  verbs: [watch]\n- level: Metadata\n- level: None\n  users: [a]\n- level: Request\n",
			want: []want{{6, "rules[1]", "matches every request, so the 2 rule(s) after it never apply"}}},

		// Version-dependent checks.
		{name: "v1beta1 on 1.24", version: "v1.24.0", policy: "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n",
			want: []want{{1, "apiVersion", `no kind "Policy" is registered for version "audit.k8s.io/v1beta1"`}}},
		{name: "cluster too old", version: "v1.15.3", policy: head + "- level: None\n",
			want: []want{{1, "", "Kubernetes v1.15.3 is not supported"}}},
		{name: "omitManagedFields on 1.22", version: "v1.22.17", policy: "omitManagedFields: true\n" + head + "- level: None\n  omitManagedFields: false\n",
			want: []want{
				{1, "omitManagedFields", "needs Kubernetes 1.23 or later: kube-apiserver v1.22.17 ignores it"},
				{6, "rules[0].omitManagedFields", "needs Kubernetes 1.23 or later"},
			}},
		{name: "omitManagedFields on 1.23", version: "v1.23.0", policy: "omitManagedFields: true\n" + head + "- level: None\n"},
		{name: "omitManagedFields without a version", policy: "omitManagedFields: true\n" + head + "- level: None\n"},

		// Several problems at once, in file order.
		{name: "everything reported", policy: "apiVersion: audit.k8s.io/v2\nkind: Role\nomitStages: [Done]\nrules:\n- level: Everything\n  verb: [get]\n  users: get\n",
			want: []want{
				{1, "apiVersion", "unknown apiVersion"},
				{2, "kind", "must be Policy"},
				{3, "omitStages[0]", `unknown stage "Done"`},
				{5, "rules[0].level", `unknown level "Everything"`},
				{6, "rules[0]", `unknown field "verb"`},
				{7, "rules[0].users", "expected a list of strings"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v *Version
			if tt.version != "" {
				parsed, err := ParseVersion(tt.version)
				if err != nil {
					t.Fatal(err)
				}
				v = &parsed
			}
			err := Validate([]byte(tt.policy), v)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("want no problems, got:\n%v", err)
				}
				return
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("want an *Error, got %#v", err)
			}
			got := perr.Problems
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(got), len(tt.want), err)
			}
			for i, w := range tt.want {
				p := got[i]
				if p.Line != w.line || p.Path != w.path || !strings.Contains(p.Msg, w.msg) {
					t.Errorf("problem %d:\n got line %d, path %q, msg %q\nwant line %d, path %q, msg containing %q",
						i, p.Line, p.Path, p.Msg, w.line, w.path, w.msg)
				}
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		problems []Problem
		want     string
	}{
		{[]Problem{{Line: 12, Column: 5, Path: "rules[3]", Msg: `unknown field "verb" (did you mean "verbs"?)`}},
			`line 12: rules[3]: unknown field "verb" (did you mean "verbs"?)`},
		{[]Problem{{Line: 1, Msg: "the policy file is empty"}, {Path: "x", Msg: "no line"}},
			"line 1: the policy file is empty\nx: no line"},
	}
	for _, tt := range tests {
		if got := (&Error{Problems: tt.problems}).Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// TestValidateAliasBomb checks that aliases cannot make the walk explode:
// a few kilobytes naming a billion strings.
func TestValidateAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x: &s [" + strings.TrimSuffix(strings.Repeat("a, ", 1000), ", ") + "]\n")
	b.WriteString("y: &e {group: \"\", resources: *s}\n")
	b.WriteString("z: &r {level: None, resources: [" + strings.TrimSuffix(strings.Repeat("*e, ", 1000), ", ") + "]}\n")
	b.WriteString(head + "  [" + strings.TrimSuffix(strings.Repeat("*r, ", 1000), ", ") + "]\n")
	err := Validate([]byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "too many times through aliases") {
		t.Fatalf("want the alias limit to trip, got %.500v", err)
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"verb", "verbs"},
		{"Verbs", "verbs"},
		{"levle", "level"},
		{"nonResourceURL", "nonResourceURLs"},
		{"usergroups", "userGroups"},
		{"omitStage", "omitStages"},
		{"level", "level"},
		{"foo", ""},
		{"resourceName", "resourceNames"},
		{strings.Repeat("x", 200), ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, append(ruleFields, groupResourceFields...)); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func ExampleValidate() {
	policy := []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: None
    verb: ["watch"]
    users: ["system:kube-proxy"]
  - level: Metadata
`)
	fmt.Println(Validate(policy, nil))
	// Output: line 5: rules[0]: unknown field "verb" (did you mean "verbs"?); kube-apiserver ignores it, at most with a warning
}

// A policy found valid for one version (or for none) is remembered for that version
// only: the same text is still refused where the version does not serve it.
func TestValidateRemembersPerVersion(t *testing.T) {
	policy := []byte("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n")
	v123, v124 := Version{1, 23, 0}, Version{1, 24, 0}
	for range 2 {
		if err := Validate(policy, nil); err != nil {
			t.Fatalf("without a version: %v", err)
		}
		if err := Validate(policy, &v123); err != nil {
			t.Fatalf("on 1.23: %v", err)
		}
		if err := Validate(policy, &v124); err == nil {
			t.Fatal("v1beta1 passed on 1.24 after passing on 1.23")
		}
	}
}
