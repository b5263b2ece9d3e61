// Package auditpolicy checks Kubernetes API server audit policies offline and
// picks the policy apiVersion a cluster serves.
//
// The checks are stricter than kube-apiserver on purpose. The API server
// exits at start on a policy it cannot load (a crash loop for a static pod),
// but only warns about an unknown field such as `verb:` for `verbs:` and then
// drops it, which silently widens the rule. Validate reports both kinds, and
// rule shapes that can never match a request, each with its line number, so
// that a bad policy is refused before any master is touched.
package auditpolicy
