package auditpolicy

import (
	"errors"
	"strings"
	"testing"

	"github.com/hostplan/hostplan/templates"
)

// TestShippedTemplate validates what hostplan ships, rendered the way the
// plan renders it, for the oldest, the first v1-only and a current cluster.
func TestShippedTemplate(t *testing.T) {
	if err := Validate(templates.AuditPolicy(APIVersionV1), nil); err != nil {
		t.Errorf("the shipped policy fails the version-independent checks:\n%v", err)
	}
	for _, s := range []string{"v1.16.0", "v1.24.0", "v1.32.13"} {
		t.Run(s, func(t *testing.T) {
			v, err := ParseVersion(s)
			if err != nil {
				t.Fatal(err)
			}
			apiVersion, err := APIVersion(v)
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(templates.AuditPolicy(apiVersion), &v); err != nil {
				t.Errorf("the shipped policy for %v:\n%v", v, err)
			}
		})
	}
}

// TestBetaAPIVersions pins where the vendor's sample apiVersion stops working.
func TestBetaAPIVersions(t *testing.T) {
	tests := []struct {
		apiVersion string
		version    string
		wantErr    bool
	}{
		{APIVersionV1beta1, "v1.16.0", false},
		{APIVersionV1beta1, "v1.21.0", false},
		{APIVersionV1beta1, "v1.23.17", false},
		{APIVersionV1beta1, "v1.24.0", true},
		{APIVersionV1beta1, "v1.32.13", true},
		{APIVersionV1alpha1, "v1.23.0", false},
		{APIVersionV1alpha1, "v1.24.0", true},
		{APIVersionV1, "v1.16.0", false},
		{APIVersionV1, "v1.32.13", false},
		{APIVersionV1, "v1.15.0", true}, // served, but older than hostplan supports
	}
	for _, tt := range tests {
		t.Run(tt.apiVersion+"@"+tt.version, func(t *testing.T) {
			v, err := ParseVersion(tt.version)
			if err != nil {
				t.Fatal(err)
			}
			policy := templates.AuditPolicy(tt.apiVersion)
			err = Validate(policy, &v)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate(%s on %v) = %v, want error %v", tt.apiVersion, v, err, tt.wantErr)
			}
			if err == nil {
				return
			}
			var perr *Error
			if !errors.As(err, &perr) || len(perr.Problems) != 1 {
				t.Fatalf("want exactly one problem, got %#v", err)
			}
			p := perr.Problems[0]
			if p.Line != 5 {
				t.Errorf("problem on line %d, want 5 (the apiVersion line): %v", p.Line, p)
			}
			if tt.apiVersion != APIVersionV1 && !strings.Contains(p.Msg, `no kind "Policy" is registered for version "`+tt.apiVersion+`"`) {
				t.Errorf("the message should quote kube-apiserver's own error: %v", p)
			}
			// The same file passes when no version is known yet.
			if err := Validate(policy, nil); err != nil {
				t.Errorf("Validate(%s, nil) = %v, want nil", tt.apiVersion, err)
			}
		})
	}
}
