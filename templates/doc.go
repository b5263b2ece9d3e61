// Package templates holds the files hostplan ships to hosts, embedded in the
// binary so that a plan never depends on files next to the executable.
//
// audit-policy.yaml is the cloud Security Center's Kubernetes audit policy
// (docs/domain.md, section 3 (a)); render it with AuditPolicy, which fills in
// the apiVersion the target cluster serves.
package templates
