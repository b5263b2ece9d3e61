package tasks

import (
	"strings"
	"testing"
)

func TestCleanKubectlDiff(t *testing.T) {
	in := "diff -u -N /tmp/LIVE-3870/v1.ConfigMap.sc.onboarding /tmp/MERGED-1234/v1.ConfigMap.sc.onboarding\n" +
		"--- /tmp/LIVE-3870/v1.ConfigMap.sc.onboarding\t2026-11-23 12:00:00.000 +0000\n" +
		"+++ /tmp/MERGED-1234/v1.ConfigMap.sc.onboarding\t2026-11-23 12:00:00.000 +0000\n" +
		"@@ -1,3 +1,3 @@\n-  cluster: a\n+  cluster: b\n"
	want := "--- live/v1.ConfigMap.sc.onboarding\n+++ planned/v1.ConfigMap.sc.onboarding\n@@ -1,3 +1,3 @@\n-  cluster: a\n+  cluster: b\n"
	if got := cleanKubectlDiff(in); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestNewObjectsDiffMasksSecrets(t *testing.T) {
	m := []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sc\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: t\n  namespace: sc\ndata:\n  token: czNjcjN0\nstringData:\n  other: s3cr3t\n")
	got := newObjectsDiff(m)
	if strings.Contains(got, "czNjcjN0") || strings.Contains(got, "s3cr3t") {
		t.Errorf("secret values shown:\n%s", got)
	}
	for _, want := range []string{"+++ planned/Namespace/sc\n", "+++ planned/Secret/t\n", "+  token: '***'\n", "@@ -0,0 +1,4 @@\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
	if !createsNamespace(m, "sc") || createsNamespace(m, "other") {
		t.Error("createsNamespace")
	}
	if ns, ok := missingNamespace(`Error from server (NotFound): namespaces "sc" not found`); !ok || ns != "sc" {
		t.Errorf("missingNamespace = %q %v", ns, ok)
	}
}
