package kubeyaml

import (
	"errors"
	"strings"
	"testing"
)

var podFixtures = []string{
	"kube-apiserver.v1.32.yaml", "kube-apiserver.v1.24.yaml", "kube-apiserver.indent4.yaml",
	"kube-apiserver.args.yaml", "kube-apiserver.audit-existing.yaml",
}

// checkFuzzError accepts refusals but not panics, foreign error types or self-check
// failures: an "internal error" means a splice went wrong and was caught.
func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	var ke *Error
	if !errors.As(err, &ke) {
		t.Fatalf("error of type %T: %v", err, err)
	}
	if strings.Contains(err.Error(), "internal error") {
		t.Fatalf("self-check failed: %v", err)
	}
}

func FuzzEditStaticPod(f *testing.F) {
	for _, name := range podFixtures {
		f.Add(readTestdata(f, name), "30")
	}
	f.Add([]byte(basePod), "true")
	f.Add([]byte(strings.ReplaceAll(basePod, "\n", "\r\n")), "a: b #c")
	f.Add([]byte("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - {name: kube-apiserver, command: [kube-apiserver, --a=b]}\n"), "x,y")
	f.Fuzz(func(t *testing.T, src []byte, value string) {
		e := auditEdit()
		e.Flags = append(e.Flags, Flag{"fuzz", value})
		e.Env = append(e.Env, EnvVar{"FUZZ", value})
		e.RemoveFlags = []string{"profiling", "enable-bootstrap-token-auth"}
		out, err := EditStaticPod(src, e)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		if err := ValidateStaticPod(out, e.Container); err != nil {
			t.Fatalf("result does not validate: %v\n%s", err, out)
		}
		checkPodEffect(t, out, e)
	})
}

func FuzzEditClusterConfiguration(f *testing.F) {
	for _, name := range []string{"cluster.v1beta3.yaml", "cluster.v1beta3-some.yaml", "cluster.v1beta4.yaml", "cluster.v1beta4-some.yaml"} {
		f.Add(readTestdata(f, name), "30")
	}
	f.Add([]byte(v1beta4Some), "yes")
	f.Fuzz(func(t *testing.T, src []byte, value string) {
		e := auditClusterEdit()
		e.ExtraArgs = append(e.ExtraArgs, Flag{"fuzz", value})
		e.RemoveArgs = []string{"profiling"}
		out, err := EditClusterConfiguration(src, e)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		checkClusterEffect(t, out, e)
	})
}

func BenchmarkEditStaticPod(b *testing.B) {
	src := readTestdata(b, "kube-apiserver.v1.32.yaml")
	e := auditEdit()
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := EditStaticPod(src, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEditStaticPodNoop is the common case on a second run: validation and planning
// only, nothing to splice.
func BenchmarkEditStaticPodNoop(b *testing.B) {
	src, err := EditStaticPod(readTestdata(b, "kube-apiserver.v1.32.yaml"), auditEdit())
	if err != nil {
		b.Fatal(err)
	}
	e := auditEdit()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EditStaticPod(src, e); err != nil {
			b.Fatal(err)
		}
	}
}
