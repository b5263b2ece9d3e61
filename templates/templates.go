package templates

import (
	"bytes"
	"embed"
	"regexp"
	"strconv"
)

// FS holds the raw templates, placeholders unfilled.
//
//go:embed audit-policy.yaml
var FS embed.FS

// AuditPolicyFile is the name of the audit policy template in FS.
const AuditPolicyFile = "audit-policy.yaml"

// AuditPolicyAPIVersionPlaceholder stands for the policy's apiVersion in the
// raw template. It is a plain YAML scalar so that the raw file still parses.
const AuditPolicyAPIVersionPlaceholder = "__AUDIT_API_VERSION__"

// plainGroupVersion matches values that YAML reads back as the same string
// when written unquoted: the slash rules out booleans, nulls and numbers.
var plainGroupVersion = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?/[a-z0-9]+$`)

// AuditPolicy renders the audit policy with the given apiVersion (for every
// cluster hostplan supports, auditpolicy.APIVersion returns "audit.k8s.io/v1").
// Any other string is written as a quoted YAML scalar, so the result is
// always one well-formed document whose apiVersion is exactly apiVersion;
// whether that value is acceptable is for auditpolicy.Validate to say.
func AuditPolicy(apiVersion string) []byte {
	raw, err := FS.ReadFile(AuditPolicyFile)
	if err != nil {
		// Unreachable: the file is embedded at build time and the tests read it.
		return nil
	}
	value := apiVersion
	if !plainGroupVersion.MatchString(apiVersion) {
		// strconv.Quote's escapes (\n, \t, \xNN, \uNNNN, ...) are all valid
		// in a YAML double-quoted scalar.
		value = strconv.Quote(apiVersion)
	}
	return bytes.Replace(raw, []byte(AuditPolicyAPIVersionPlaceholder), []byte(value), 1)
}
