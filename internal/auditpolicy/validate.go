package auditpolicy

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a policy.
type Problem struct {
	// Line and Column are 1-based positions in the file; 0 when unknown.
	Line, Column int
	// Path is the field path in the policy, as kube-apiserver writes it
	// ("rules[3].resources[0].group", indexes from 0); "" for the whole file.
	Path string
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem Validate found, in file order.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Validate checks a policy offline, strictly. With v nil only version-independent checks run
// (used at `validate` time before any host is contacted); with v set, the apiVersion must be
// served by that cluster version.
//
// The error, if any, is an *Error holding every problem found. Beyond what
// kube-apiserver itself rejects, it reports unknown or duplicate fields,
// values the API server's YAML 1.1 reader would turn into booleans or
// numbers, empty selectors (an empty list matches everything), selector
// values that can never match a request, rules that can never be reached,
// extra YAML documents, and fields the given cluster version would ignore.
//
// A policy found valid is remembered (by its SHA-256 and v): a run checks the same
// policy for every master.
func Validate(data []byte, v *Version) error {
	k := validKey{sum: sha256.Sum256(data)}
	if v != nil {
		k.v, k.versioned = *v, true
	}
	valid.mu.Lock()
	ok := valid.m[k]
	valid.mu.Unlock()
	if ok {
		return nil
	}
	if err := validate(data, v); err != nil {
		return err
	}
	valid.mu.Lock()
	if len(valid.m) < maxValid {
		valid.m[k] = true
	}
	valid.mu.Unlock()
	return nil
}

type validKey struct {
	sum       [sha256.Size]byte
	v         Version
	versioned bool
}

// valid are the policies Validate passed, up to maxValid of them.
var valid = struct {
	mu sync.Mutex
	m  map[validKey]bool
}{m: map[validKey]bool{}}

const maxValid = 256

func validate(data []byte, v *Version) error {
	c := &checker{}
	c.run(data, v)
	if len(c.problems) == 0 {
		return nil
	}
	sort.SliceStable(c.problems, func(i, j int) bool {
		a, b := c.problems[i], c.problems[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &Error{Problems: c.problems}
}

// maxVisits bounds the walk: aliases let a small file name the same nodes an
// exponential number of times ("billion laughs").
const maxVisits = 100000

type checker struct {
	problems []Problem
	visits   int
	tooBig   bool
}

func (c *checker) addAt(line, col int, path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) add(n *yaml.Node, path, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	c.addAt(line, col, path, format, args...)
}

// run parses data and checks the policy in its first document.
func (c *checker) run(data []byte, v *Version) {
	defer func() {
		// yaml.v3 has panicked on hostile input before (CVE-2022-28948);
		// a validator must answer, not crash the plan.
		if r := recover(); r != nil {
			c.addAt(0, 0, "", "the YAML parser failed on this file: %v", r)
		}
	}()

	if len(bytes.TrimSpace(data)) == 0 {
		c.addAt(1, 1, "", "the policy file is empty: kube-apiserver exits at start on an empty policy")
		return
	}
	docs, err := parseDocuments(data)
	if err != nil {
		line := yamlErrorLine(err, data)
		msg := yamlLineRE.ReplaceAllString(err.Error(), "")
		c.addAt(line, 0, "", "not valid YAML: %s", strings.TrimSpace(strings.TrimPrefix(msg, "yaml: ")))
		return
	}
	if len(docs) == 0 || isEmptyDocument(docs[0]) {
		for _, d := range docs {
			if !isEmptyDocument(d) {
				c.add(d.Content[0], "", "the policy is not in the first YAML document, the only one kube-apiserver reads: remove the empty document (---) before it")
				return
			}
		}
		c.addAt(1, 1, "", "the policy file holds no policy (only comments or an empty document): kube-apiserver exits at start on it")
		return
	}
	for _, d := range docs[1:] {
		if !isEmptyDocument(d) {
			c.add(d.Content[0], "", "a second YAML document: a policy file holds exactly one document, and kube-apiserver reads only the first")
		}
	}
	c.policy(docs[0].Content[0], v)
}

func parseDocuments(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &doc)
	}
}

// isEmptyDocument reports a document with no content ("---" alone, or "~"),
// which is harmless after the policy.
func isEmptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

var (
	yamlLineRE   = regexp.MustCompile(`^yaml: line (\d+):`)
	yamlAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced`)
)

// yamlErrorLine finds the line a yaml.v3 parse error is about. yaml.v3 leaves
// the line out of its scanner and parser messages when it is the first line.
func yamlErrorLine(err error, data []byte) int {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			return n
		}
	}
	if m := yamlAnchorRE.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			return bytes.Count(data[:i], []byte("\n")) + 1
		}
		return 0
	}
	return 1
}

// visit resolves aliases and counts the walk against maxVisits; it returns
// nil once the budget is spent.
func (c *checker) visit(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		return nil
	}
	c.visits++
	if c.visits > maxVisits {
		if !c.tooBig {
			c.tooBig = true
			c.add(n, "", "the policy refers to the same YAML nodes too many times through aliases; write it out")
		}
		return nil
	}
	return n
}

// field is one key of a mapping, with the key node for positions.
type field struct {
	key, val *yaml.Node
}

// fields checks that n is a mapping whose keys are distinct strings drawn from
// allowed, reporting everything else, and returns the fields by name.
// hints maps a field name from elsewhere to advice on where it belongs.
func (c *checker) fields(n *yaml.Node, path, what string, allowed []string, hints map[string]string) (map[string]field, bool) {
	if n.Kind != yaml.MappingNode {
		c.add(n, path, "expected %s (a mapping), found %s", what, describe(n))
		return nil, false
	}
	out := map[string]field{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := c.visit(n.Content[i])
		val := n.Content[i+1]
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			if k.ShortTag() == "!!merge" {
				c.add(k, path, "merge keys (<<) are not supported in a policy: write the fields out")
			} else {
				c.add(k, path, "field names must be strings, found %s", describe(k))
			}
			continue
		}
		name := k.Value
		if prev, dup := out[name]; dup {
			c.add(k, path, "duplicate field %q (first at line %d): kube-apiserver would keep only one of them", name, prev.key.Line)
			continue
		}
		if !contains(allowed, name) {
			msg := fmt.Sprintf("unknown field %q", name)
			if h, ok := hints[name]; ok {
				msg += " (" + h + ")"
			} else if s := suggest(name, allowed); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.add(k, path, "%s; kube-apiserver ignores it, at most with a warning", msg)
			continue
		}
		out[name] = field{key: k, val: val}
	}
	return out, true
}

var (
	policyFields = []string{"apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields"}
	ruleFields   = []string{"level", "users", "userGroups", "verbs", "resources", "namespaces",
		"nonResourceURLs", "omitStages", "omitManagedFields"}
	groupResourceFields = []string{"group", "resources", "resourceNames"}
	// metav1.ObjectMeta, which kube-apiserver accepts and ignores in a policy.
	metadataFields = []string{"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
		"generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
		"labels", "annotations", "ownerReferences", "finalizers", "managedFields"}

	levels = []string{"None", "Metadata", "Request", "RequestResponse"}
	stages = []string{"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"}
	// Request verbs as kube-apiserver's RequestInfo names them: the resource
	// verbs, and the lower-cased HTTP method for non-resource URLs.
	verbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
		"proxy", "post", "put", "head", "options"}
)

var (
	policyHints = hintsFor(ruleFields, "a rule field: it belongs in an entry of rules")
	ruleHints   = mergeHints(
		hintsFor([]string{"apiVersion", "kind", "metadata", "rules"}, "a policy field: it belongs at the top level"),
		map[string]string{
			"apiGroups":     `audit rules name groups inside resources: - group: "..."`,
			"resourceNames": "resourceNames belongs in an entry of resources, next to group",
			"group":         "group belongs in an entry of resources",
		})
	groupResourceHints = map[string]string{
		"apiGroups": `did you mean "group"? audit rules take one group per entry`,
		"apiGroup":  `did you mean "group"?`,
		"groups":    `did you mean "group"? audit rules take one group per entry`,
		"verbs":     "verbs belongs in the rule, not in an entry of resources",
	}
)

func hintsFor(names []string, hint string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[n] = hint
	}
	return m
}

func mergeHints(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func (c *checker) policy(root *yaml.Node, v *Version) {
	root = c.visit(root)
	if root == nil {
		return
	}
	fs, ok := c.fields(root, "", "an audit Policy", policyFields, policyHints)
	if !ok {
		return
	}
	apiVersionLine := c.policyAPIVersion(root, fs, v)
	c.policyKind(root, fs)

	if f, ok := fs["metadata"]; ok {
		c.metadata(f)
	}
	if f, ok := fs["omitStages"]; ok {
		c.omitStages(f, "omitStages")
	}
	if f, ok := fs["omitManagedFields"]; ok {
		c.omitManagedFields(f, "omitManagedFields", v)
	}

	f, ok := fs["rules"]
	if !ok {
		c.add(root, "rules", "required: kube-apiserver exits at start on a policy with no rules (\"loaded illegal policy with 0 rules\")")
	} else {
		c.rules(f, v)
	}

	if v != nil {
		if err := supported(*v); err != nil {
			c.addAt(apiVersionLine, 0, "", "%v", err)
		}
	}
}

// policyAPIVersion checks the policy's apiVersion and returns the line where a cluster
// version hostplan refuses is reported: apiVersion's, or the policy's without one.
func (c *checker) policyAPIVersion(root *yaml.Node, fs map[string]field, v *Version) int {
	f, ok := fs["apiVersion"]
	if !ok {
		c.add(root, "apiVersion", "required: kube-apiserver exits at start on a policy without apiVersion (write apiVersion: %s)", APIVersionV1)
		return root.Line
	}
	if s, ok := c.str(f, "apiVersion"); ok {
		c.apiVersion(f.val, s, v)
	}
	return f.key.Line
}

func (c *checker) policyKind(root *yaml.Node, fs map[string]field) {
	f, ok := fs["kind"]
	if !ok {
		c.add(root, "kind", "required: kube-apiserver exits at start on a policy without kind: Policy")
		return
	}
	if s, ok := c.str(f, "kind"); ok && s != "Policy" {
		msg := fmt.Sprintf("must be Policy, not %q: kube-apiserver exits at start", s)
		if strings.EqualFold(s, "Policy") {
			msg += " (kinds are case-sensitive)"
		}
		c.add(f.val, "kind", "%s", msg)
	}
}

func (c *checker) apiVersion(n *yaml.Node, s string, v *Version) {
	switch s {
	case APIVersionV1, APIVersionV1beta1, APIVersionV1alpha1:
	default:
		msg := fmt.Sprintf("unknown apiVersion %q: kube-apiserver exits at start; use %s", s, APIVersionV1)
		if s == "v1" || strings.HasPrefix(s, "audit.k8s.io") || strings.HasPrefix(s, "audit/") {
			msg = fmt.Sprintf("unknown apiVersion %q: the audit policy group is audit.k8s.io; use %s", s, APIVersionV1)
		}
		c.add(n, "apiVersion", "%s", msg)
		return
	}
	if v != nil {
		if err := servedBy(s, *v); err != nil {
			c.add(n, "apiVersion", "%v", err)
		}
	}
}

func (c *checker) metadata(f field) {
	n := c.visit(f.val)
	if n == nil || isNull(n) {
		return
	}
	fs, ok := c.fields(n, "metadata", "object metadata", metadataFields, nil)
	if !ok {
		return
	}
	for _, name := range []string{"name", "generateName", "namespace"} {
		if g, ok := fs[name]; ok {
			c.str(g, "metadata."+name)
		}
	}
	for _, name := range []string{"labels", "annotations"} {
		g, ok := fs[name]
		if !ok {
			continue
		}
		m := c.visit(g.val)
		if m == nil || isNull(m) {
			continue
		}
		if m.Kind != yaml.MappingNode {
			c.add(m, "metadata."+name, "expected a mapping of strings to strings, found %s", describe(m))
			continue
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			key := c.visit(m.Content[i])
			if key == nil {
				continue
			}
			if key.Kind != yaml.ScalarNode {
				c.add(key, "metadata."+name, "keys must be strings, found %s", describe(key))
				continue
			}
			c.str(field{key: key, val: m.Content[i+1]}, "metadata."+name+"["+strconv.Quote(key.Value)+"]")
		}
	}
}

func (c *checker) rules(f field, v *Version) {
	n := c.visit(f.val)
	if n == nil {
		return
	}
	if isNull(n) {
		c.add(f.key, "rules", "rules has no value: kube-apiserver exits at start on a policy with no rules (\"loaded illegal policy with 0 rules\")")
		return
	}
	if n.Kind != yaml.SequenceNode {
		c.add(n, "rules", "expected a list of rules, found %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		c.add(n, "rules", "rules is empty: kube-apiserver exits at start (\"loaded illegal policy with 0 rules\")")
		return
	}
	catchAll := -1
	for i, item := range n.Content {
		path := fmt.Sprintf("rules[%d]", i)
		matchesAll := c.rule(item, path, v)
		if matchesAll && catchAll < 0 && i < len(n.Content)-1 {
			catchAll = i
			after := len(n.Content) - 1 - i
			c.add(c.visit(item), path, "this rule matches every request, so the %d rule(s) after it never apply (kube-apiserver uses the first rule that matches)", after)
		}
	}
}

// rule checks one rule and reports whether it matches every request.
func (c *checker) rule(item *yaml.Node, path string, v *Version) bool {
	n := c.visit(item)
	if n == nil {
		return false
	}
	fs, ok := c.fields(n, path, "a rule", ruleFields, ruleHints)
	if !ok {
		return false
	}
	if f, ok := fs["level"]; ok {
		if s, ok := c.str(f, path+".level"); ok {
			c.enum(f.val, path+".level", "level", s, levels)
		}
	} else {
		c.add(n, path+".level", "required: kube-apiserver exits at start on a rule without a level (one of %s)", strings.Join(levels, ", "))
	}
	c.ruleUsers(fs, path)
	c.ruleVerbs(fs, path)
	c.ruleTargets(fs, path)
	if f, ok := fs["omitStages"]; ok {
		c.omitStages(f, path+".omitStages")
	}
	if f, ok := fs["omitManagedFields"]; ok {
		c.omitManagedFields(f, path+".omitManagedFields", v)
	}

	// Only a rule with no selector field at all is a catch-all; one whose
	// selectors are empty has been reported already.
	for _, name := range []string{"users", "userGroups", "verbs", "namespaces", "resources", "nonResourceURLs"} {
		if _, ok := fs[name]; ok {
			return false
		}
	}
	return true
}

// ruleUsers checks the users and userGroups a rule selects.
func (c *checker) ruleUsers(fs map[string]field, path string) {
	if f, ok := fs["users"]; ok {
		for _, s := range c.strList(f, path+".users", "every user") {
			c.notWildcard(s, path+".users", "user", "users")
		}
	}
	if f, ok := fs["userGroups"]; ok {
		for _, s := range c.strList(f, path+".userGroups", "every user group") {
			c.notWildcard(s, path+".userGroups", "group", "userGroups")
		}
	}
}

// ruleVerbs checks the verbs a rule selects.
func (c *checker) ruleVerbs(fs map[string]field, path string) {
	f, ok := fs["verbs"]
	if !ok {
		return
	}
	for _, s := range c.strList(f, path+".verbs", "every verb") {
		if s.val == "*" {
			c.add(s.node, s.path, `audit rules do not expand "*": it matches no request; leave verbs out to match every verb`)
			continue
		}
		c.enum(s.node, s.path, "verb", s.val, verbs)
	}
}

// ruleTargets checks what a rule applies to: namespaces and resources, or
// non-resource URLs, which kube-apiserver refuses to mix in one rule.
func (c *checker) ruleTargets(fs map[string]field, path string) {
	namespaces := 0
	if f, ok := fs["namespaces"]; ok {
		for _, s := range c.strList(f, path+".namespaces", "every namespace") {
			namespaces++
			c.namespace(s)
		}
	}
	resources := 0
	if f, ok := fs["resources"]; ok {
		resources = c.groupResources(f, path+".resources")
	}
	f, ok := fs["nonResourceURLs"]
	if !ok {
		return
	}
	urls := 0
	for _, s := range c.strList(f, path+".nonResourceURLs", "every request") {
		urls++
		c.nonResourceURL(s)
	}
	if urls > 0 && (resources > 0 || namespaces > 0) {
		c.add(f.key, path+".nonResourceURLs", "rules cannot apply to both regular resources and non-resource URLs: kube-apiserver exits at start (split this rule in two)")
	}
}

// groupResources checks a rule's resources and returns how many entries it has.
func (c *checker) groupResources(f field, path string) int {
	n := c.visit(f.val)
	if n == nil {
		return 0
	}
	if isNull(n) {
		c.add(f.key, path, "resources has no value: an empty resources list matches every resource; leave it out or list the resources")
		return 0
	}
	if n.Kind != yaml.SequenceNode {
		c.add(n, path, "expected a list of {group, resources} entries, found %s", describe(n))
		return 0
	}
	if len(n.Content) == 0 {
		c.add(n, path, "resources is empty: an empty list matches every resource; leave it out or list the resources")
		return 0
	}
	for i, item := range n.Content {
		c.groupResource(item, fmt.Sprintf("%s[%d]", path, i))
	}
	return len(n.Content)
}

// groupResource checks one {group, resources, resourceNames} entry of a rule's
// resources.
func (c *checker) groupResource(item *yaml.Node, path string) {
	e := c.visit(item)
	if e == nil {
		return
	}
	if e.Kind == yaml.ScalarNode && e.ShortTag() == "!!str" {
		c.add(e, path, `expected a {group, resources} entry, found the string %q: write - group: "" (the core group) and resources: [%s]`, e.Value, e.Value)
		return
	}
	fs, ok := c.fields(e, path, "a {group, resources} entry", groupResourceFields, groupResourceHints)
	if !ok {
		return
	}
	if g, ok := fs["group"]; ok {
		c.group(g, path+".group")
	}
	names := 0
	if g, ok := fs["resources"]; ok {
		for _, s := range c.strList(g, path+".resources", "every resource in the group") {
			names++
			c.resource(s)
		}
	}
	if g, ok := fs["resourceNames"]; ok {
		for _, s := range c.strList(g, path+".resourceNames", "every object") {
			if s.val == "" || s.val == "*" {
				c.add(s.node, s.path, "%q matches no object name: leave resourceNames out to match every object", s.val)
			}
		}
		if names == 0 {
			c.add(g.key, path+".resourceNames", "using resourceNames requires at least one resource (without resources the entry matches every object of the group)")
		}
	}
}

// group checks an API group name. The core group is "".
func (c *checker) group(f field, path string) {
	n := c.visit(f.val)
	if n == nil {
		return
	}
	if isNull(n) {
		c.add(f.key, path, `group has no value: write group: "" for the core API group`)
		return
	}
	s, ok := c.str(f, path)
	if !ok || s == "" {
		return
	}
	switch {
	case strings.Contains(s, "/"):
		c.add(n, path, "%q is a group/version: group names carry no version (write %q)", s, s[:strings.Index(s, "/")])
	case s == "core" || s == "v1":
		c.add(n, path, `there is no API group %q: the core group is "" (group: "")`, s)
	case !isDNSSubdomain(s):
		c.add(n, path, "invalid API group %q: group names are lower-case DNS subdomains (kube-apiserver exits at start)", s)
	}
}

// resource checks the resource forms kube-apiserver can match: "pods",
// "pods/log", "pods/*", "*/scale" and "*". Anything else matches nothing.
func (c *checker) resource(s item) {
	v := s.val
	if v == "" {
		c.add(s.node, s.path, `"" matches no resource: name a resource, or "*" for all`)
		return
	}
	if v == "*" {
		return
	}
	if strings.ToLower(v) != v {
		c.add(s.node, s.path, "%q matches no resource: resource names are lower-case plurals (%q)", v, strings.ToLower(v))
		return
	}
	parts := strings.Split(v, "/")
	if len(parts) > 2 {
		c.add(s.node, s.path, "%q matches no resource: a resource is \"name\" or \"name/subresource\"", v)
		return
	}
	if v == "*/*" {
		c.add(s.node, s.path, `"*/*" matches no resource: use "*" for every resource and subresource`)
		return
	}
	for _, p := range parts {
		if p == "*" {
			continue
		}
		if p == "" || strings.ContainsAny(p, "* \t") {
			c.add(s.node, s.path, "%q matches no resource: \"*\" must stand alone, as in \"*\", \"pods/*\" or \"*/scale\"", v)
			return
		}
	}
}

func (c *checker) namespace(s item) {
	switch {
	case s.val == "":
		// Matches cluster-scoped resources: meaningful.
	case s.val == "*":
		c.add(s.node, s.path, `audit rules do not expand "*": it matches no namespace; leave namespaces out to match every namespace`)
	case !isDNSLabel(s.val):
		c.add(s.node, s.path, "%q matches no namespace: namespace names are lower-case DNS labels", s.val)
	}
}

// nonResourceURL applies kube-apiserver's own rules.
func (c *checker) nonResourceURL(s item) {
	u := s.val
	if u == "*" {
		return
	}
	if !strings.HasPrefix(u, "/") {
		c.add(s.node, s.path, "non-resource URL rules must begin with a '/' character (kube-apiserver exits at start)")
	}
	if u != "" && strings.Contains(u[:len(u)-1], "*") {
		c.add(s.node, s.path, "non-resource URL wildcards '*' must be the final character of the rule (kube-apiserver exits at start)")
	}
}

func (c *checker) notWildcard(s item, path, what, field string) {
	switch s.val {
	case "":
		c.add(s.node, s.path, "an empty %s name matches no request", what)
	case "*":
		c.add(s.node, s.path, "audit rules do not expand \"*\": it matches only a %s literally named \"*\"; leave %s out to match every %s", what, field, what)
	}
}

func (c *checker) omitStages(f field, path string) {
	n := c.visit(f.val)
	if n == nil {
		return
	}
	if isNull(n) {
		c.add(f.key, path, "omitStages has no value: list stages (%s) or leave it out", strings.Join(stages, ", "))
		return
	}
	if n.Kind != yaml.SequenceNode {
		c.add(n, path, "expected a list of stages, found %s", describe(n))
		return
	}
	// An empty omitStages omits nothing, so unlike the selectors it is harmless.
	for i, e := range n.Content {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		if s, ok := c.str(field{key: f.key, val: e}, ipath); ok {
			c.enum(c.visit(e), ipath, "stage", s, stages)
		}
	}
}

func (c *checker) omitManagedFields(f field, path string, v *Version) {
	n := c.visit(f.val)
	if n == nil {
		return
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		c.add(n, path, "expected true or false, found %s", describe(n))
	}
	if v != nil && !v.AtLeast(1, 23) {
		c.add(f.key, path, "omitManagedFields needs Kubernetes 1.23 or later: kube-apiserver %s ignores it", v)
	}
}

// enum reports s unless it is one of allowed.
func (c *checker) enum(n *yaml.Node, path, what, s string, allowed []string) {
	if contains(allowed, s) {
		return
	}
	msg := fmt.Sprintf("unknown %s %q", what, s)
	if sug := suggest(s, allowed); sug != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", sug)
	}
	c.add(n, path, "%s: must be one of %s", msg, strings.Join(allowed, ", "))
}

// item is one string of a list, with its node and path.
type item struct {
	node *yaml.Node
	path string
	val  string
}

// strList checks that f is a non-empty list of strings and returns the
// strings; emptyMeans says what an empty list would match.
func (c *checker) strList(f field, path, emptyMeans string) []item {
	n := c.visit(f.val)
	if n == nil {
		return nil
	}
	name := f.key.Value
	if isNull(n) {
		c.add(f.key, path, "%s has no value: an empty %s list matches %s; leave it out or list the values", name, name, emptyMeans)
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf(" (write %s: [%s])", name, n.Value)
		}
		c.add(n, path, "expected a list of strings, found %s%s", describe(n), hint)
		return nil
	}
	if len(n.Content) == 0 {
		c.add(n, path, "%s is empty: an empty list matches %s; leave it out or list the values", name, emptyMeans)
		return nil
	}
	var out []item
	for i, e := range n.Content {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		if s, ok := c.str(field{key: f.key, val: e}, ipath); ok {
			out = append(out, item{node: c.visit(e), path: ipath, val: s})
		}
	}
	return out
}

// yaml11Special are the plain scalars that kube-apiserver's YAML 1.1 reader
// (yaml.v2 under sigs.k8s.io/yaml) takes as booleans or null although
// yaml.v3 reads them as strings.
var yaml11Special = map[string]string{
	"y": "a boolean", "Y": "a boolean", "yes": "a boolean", "Yes": "a boolean", "YES": "a boolean",
	"n": "a boolean", "N": "a boolean", "no": "a boolean", "No": "a boolean", "NO": "a boolean",
	"on": "a boolean", "On": "a boolean", "ON": "a boolean",
	"off": "a boolean", "Off": "a boolean", "OFF": "a boolean",
}

// str checks that f's value is a string as kube-apiserver reads it.
func (c *checker) str(f field, path string) (string, bool) {
	n := c.visit(f.val)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		c.add(n, path, "expected a string, found %s", describe(n))
		return "", false
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle|yaml.TaggedStyle) == 0 {
		if what, ok := yaml11Special[n.Value]; ok {
			c.add(n, path, "kube-apiserver reads the unquoted %s as %s (YAML 1.1) and exits at start: quote it (%q)", n.Value, what, n.Value)
			return "", false
		}
	}
	return n.Value, true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for "expected X, found Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", truncate(n.Value))
		case "!!null":
			return "no value (null)"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int", "!!float":
			return "a number (" + truncate(n.Value) + ")"
		default:
			return fmt.Sprintf("a %s value", n.ShortTag())
		}
	}
	return "something else"
}

func truncate(s string) string {
	const max = 60
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "..."
	}
	return s
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

var (
	dnsLabelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// isDNSLabel is apimachinery's IsDNS1123Label (namespace names).
func isDNSLabel(s string) bool { return len(s) <= 63 && dnsLabelRE.MatchString(s) }

// isDNSSubdomain is apimachinery's IsDNS1123Subdomain, which
// kube-apiserver's audit policy validation applies to group names.
func isDNSSubdomain(s string) bool { return len(s) <= 253 && dnsSubdomainRE.MatchString(s) }
