package lab

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const auditPolicyV1 = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - "RequestReceived"
rules:
  - level: Metadata
`

// The vendor's sample policy: kube-apiserver v1.32 no longer knows v1beta1.
const auditPolicyV1beta1 = `apiVersion: audit.k8s.io/v1beta1
kind: Policy
omitStages:
  - "RequestReceived"
rules:
  - level: Metadata
`

// withAudit adds the vendor's audit flags, volume mounts and volumes to a kubeadm
// manifest, the policy at policyPath.
func withAudit(manifest []byte, policyPath string) []byte {
	s := string(manifest)
	s = strings.Replace(s, "    - kube-apiserver\n", "    - kube-apiserver\n"+
		"    - --audit-log-maxage=30\n"+
		"    - --audit-log-maxbackup=10\n"+
		"    - --audit-log-maxsize=100\n"+
		"    - --audit-log-path=/var/log/kubernetes/kubernetes.audit\n"+
		"    - --audit-policy-file="+policyPath+"\n", 1)
	s = strings.Replace(s, "    volumeMounts:\n", "    volumeMounts:\n"+
		"    - mountPath: /var/log/kubernetes\n      name: k8s-audit\n"+
		"    - mountPath: "+policyPath+"\n      name: audit-policy\n      readOnly: true\n", 1)
	s = strings.Replace(s, "  volumes:\n", "  volumes:\n"+
		"  - hostPath:\n      path: /var/log/kubernetes\n      type: DirectoryOrCreate\n    name: k8s-audit\n"+
		"  - hostPath:\n      path: "+policyPath+"\n      type: FileOrCreate\n    name: audit-policy\n", 1)
	return []byte(s)
}

// replaceManifest puts a new manifest in place the way careful tools do (write
// beside, rename in), so the kubelet never sees half a file.
func replaceManifest(t *testing.T, h *Host, data []byte) {
	t.Helper()
	if err := h.WriteFile("/etc/kubernetes/kube-apiserver.yaml.new", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := h.Exec(context.Background(), "mv /etc/kubernetes/kube-apiserver.yaml.new "+KubeAPIServerYAML); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestKube(t *testing.T) {
	l := ForTest(t, Options{Hosts: 3})
	c := KubeForTest(t, l, KubeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	original := c.Manifest(h2)
	kubectl := func(t *testing.T, h *Host, args ...string) string {
		t.Helper()
		out, err := c.Kubectl(ctx, h, args...)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}

	t.Run("kubeadm layout", func(t *testing.T) {
		for _, h := range c.Masters {
			out, err := h.Exec(ctx, "stat -c '%a %U:%G %n' "+KubeAPIServerYAML+" "+KubeAdminConf+
				" /etc/kubernetes/pki/ca.key /etc/kubernetes/pki/sa.key /etc/kubernetes/pki/etcd/ca.key /etc/kubernetes/pki/ca.crt /etc/kubernetes/pki/sa.pub; ls -A "+KubeManifestsDir+
				"; kube-apiserver --version; kubectl version --client | head -1")
			want := "600 root:root " + KubeAPIServerYAML + "\n600 root:root " + KubeAdminConf + "\n" +
				"600 root:root /etc/kubernetes/pki/ca.key\n600 root:root /etc/kubernetes/pki/sa.key\n600 root:root /etc/kubernetes/pki/etcd/ca.key\n" +
				"644 root:root /etc/kubernetes/pki/ca.crt\n644 root:root /etc/kubernetes/pki/sa.pub\n" +
				"kube-apiserver.yaml\nKubernetes v1.32.13\nClient Version: v1.32.13\n"
			if err != nil || string(out) != want {
				t.Errorf("%s: %v\n%s\nwant\n%s", h.Name, err, out, want)
			}
			got, err := h.ReadFile(KubeAPIServerYAML)
			if err != nil || !bytes.Equal(got, kubeAPIServerManifest(h.Address)) {
				t.Errorf("%s: manifest differs: %v", h.Name, err)
			}
		}
		if _, err := os.Stat(kubeAPIServerBinary); err == nil {
			t.Errorf("%s exists on the real machine", kubeAPIServerBinary)
		}
	})

	t.Run("every master serves on its own 6443", func(t *testing.T) {
		for _, h := range c.Masters {
			for _, p := range []string{"/readyz", "/livez"} {
				if out := kubectl(t, h, "get", "--raw", p); out != "ok" {
					t.Errorf("%s %s: %q", h.Name, p, out)
				}
			}
			if err := c.Healthy(ctx, h); err != nil {
				t.Error(err)
			}
		}
		for _, h := range c.Masters {
			st, _ := os.ReadFile("/proc/" + strconv.Itoa(c.APIServerPID(h)) + "/status")
			for _, line := range strings.Split(string(st), "\n") {
				if strings.HasPrefix(line, "VmRSS:") {
					t.Logf("%s kube-apiserver (pid %d) %s", h.Name, c.APIServerPID(h), line)
				}
			}
		}
		// One apiserver identity lease per master: three apiservers, not one.
		out := kubectl(t, h1, "get", "leases", "-n", "kube-system", "-l", "apiserver.kubernetes.io/identity=kube-apiserver", "-o", "name")
		if n := strings.Count(out, "lease.coordination.k8s.io/apiserver-"); n != 3 {
			t.Errorf("%d apiserver identity leases, want 3:\n%s", n, out)
		}
	})

	t.Run("kubeadm-config", func(t *testing.T) {
		out := kubectl(t, h1, "get", "configmap", "kubeadm-config", "-n", "kube-system", "-o", "jsonpath={.data.ClusterConfiguration}")
		for _, want := range []string{"apiVersion: kubeadm.k8s.io/v1beta4\n", "kind: ClusterConfiguration\n", "kubernetesVersion: v1.32.13\n",
			"certificatesDir: /etc/kubernetes/pki\n", "controlPlaneEndpoint: " + h1.Address + ":6443\n", "etcd:\n  local:\n    dataDir: /var/lib/etcd\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("ClusterConfiguration lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("one etcd behind all masters", func(t *testing.T) {
		kubectl(t, h1, "create", "configmap", "lab-probe", "-n", "default", "--from-literal=from=h1")
		if out := kubectl(t, h3, "get", "configmap", "lab-probe", "-n", "default", "-o", "jsonpath={.data.from}"); out != "h1" {
			t.Errorf("h3 sees %q", out)
		}
	})

	t.Run("audit v1 restarts that master only", func(t *testing.T) {
		before := []int{c.Restarts(h1), c.Restarts(h2), c.Restarts(h3)}
		if err := h2.WriteFile("/etc/kubernetes/audit-policy.yaml", []byte(auditPolicyV1), 0o600); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		replaceManifest(t, h2, withAudit(original, "/etc/kubernetes/audit-policy.yaml"))
		waitFor(t, 30*time.Second, "h2's apiserver to restart", func() bool { return c.Restarts(h2) > before[1] })
		if err := c.WaitHealthy(ctx, h2); err != nil {
			t.Fatal(err)
		}
		t.Logf("manifest change to healthy apiserver on h2: %v", time.Since(start).Round(time.Millisecond))
		kubectl(t, h2, "get", "namespaces")
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(c.APIServerPID(h2)) + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte("\x00--audit-policy-file=/etc/kubernetes/audit-policy.yaml\x00")) {
			t.Errorf("running apiserver's flags: %v %q", err, cmdline)
		}
		waitFor(t, 30*time.Second, "audit events in /var/log/kubernetes/kubernetes.audit", func() bool {
			b, _ := h2.ReadFile("/var/log/kubernetes/kubernetes.audit")
			return bytes.Contains(b, []byte(`"kind":"Event","apiVersion":"audit.k8s.io/v1"`))
		})
		if got := []int{c.Restarts(h1), c.Restarts(h2), c.Restarts(h3)}; got[0] != before[0] || got[1] != before[1]+1 || got[2] != before[2] {
			t.Errorf("starts %v -> %v, want only h2's +1", before, got)
		}
		for _, h := range []*Host{h1, h3} {
			if _, err := h.ReadFile("/var/log/kubernetes/kubernetes.audit"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s has an audit log: %v", h.Name, err)
			}
		}
	})

	t.Run("v1beta1 policy crash-loops until the manifest is restored", func(t *testing.T) {
		before := c.Restarts(h3)
		if err := h3.WriteFile("/etc/kubernetes/audit-policy.yaml", []byte(auditPolicyV1beta1), 0o600); err != nil {
			t.Fatal(err)
		}
		replaceManifest(t, h3, withAudit(c.Manifest(h3), "/etc/kubernetes/audit-policy.yaml"))
		waitFor(t, 60*time.Second, "h3's apiserver to crash three times", func() bool { return c.Restarts(h3) >= before+3 })
		if err := c.Healthy(ctx, h3); err == nil {
			t.Error("h3 healthy with a v1beta1 policy")
		}
		// klog quotes the error: its quotes come escaped.
		if log := strings.ReplaceAll(c.APIServerLog(h3), `\"`, `"`); !strings.Contains(log, `no kind "Policy" is registered for version "audit.k8s.io/v1beta1"`) {
			t.Errorf("apiserver log lacks the v1beta1 error:\n%s", lastLines(log, 20))
		}
		if log := c.KubeletLog(h3); !strings.Contains(log, "back-off") {
			t.Errorf("kubelet log shows no back-off:\n%s", log)
		}
		start := time.Now()
		replaceManifest(t, h3, c.Manifest(h3))
		if err := c.WaitHealthy(ctx, h3); err != nil {
			t.Fatal(err)
		}
		t.Logf("rollback to healthy apiserver on h3: %v", time.Since(start).Round(time.Millisecond))
		for _, h := range c.Masters {
			if err := c.Healthy(ctx, h); err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("FileOrCreate makes a missing policy an empty file", func(t *testing.T) {
		before := c.Restarts(h1)
		replaceManifest(t, h1, withAudit(c.Manifest(h1), "/etc/kubernetes/missing-policy.yaml"))
		waitFor(t, 60*time.Second, "h1's apiserver to crash twice", func() bool { return c.Restarts(h1) >= before+2 })
		if b, err := h1.ReadFile("/etc/kubernetes/missing-policy.yaml"); err != nil || len(b) != 0 {
			t.Errorf("policy file: %q %v, want empty", b, err)
		}
		if err := c.Healthy(ctx, h1); err == nil {
			t.Error("h1 healthy with an empty policy")
		}
		log := c.APIServerLog(h1)
		if i := strings.LastIndex(log, "loading audit policy file"); i < 0 {
			t.Errorf("apiserver log lacks the policy error:\n%s", lastLines(log, 20))
		} else {
			t.Logf("kube-apiserver with an empty policy file: %s", strings.SplitN(log[i:], "\n", 2)[0])
		}
		replaceManifest(t, h1, c.Manifest(h1))
		if err := c.WaitHealthy(ctx, h1); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a backup in manifests/ is a second pod", func(t *testing.T) {
		if out, err := h1.Exec(ctx, "cp -p "+KubeAPIServerYAML+" "+KubeAPIServerYAML+".bak"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		waitFor(t, 10*time.Second, "the duplicate warning", func() bool {
			return strings.Contains(c.KubeletLog(h1), "duplicate pod name: pod kube-system/kube-apiserver is defined by "+KubeAPIServerYAML+" and "+KubeAPIServerYAML+".bak")
		})
		if out, err := h1.Exec(ctx, "rm "+KubeAPIServerYAML+".bak"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		waitFor(t, 15*time.Second, "the backup's pod to stop", func() bool {
			return strings.Contains(c.KubeletLog(h1), KubeAPIServerYAML+".bak removed")
		})
		if err := c.WaitHealthy(ctx, h1); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("stop leaves nothing", func(t *testing.T) {
		inodes := nsInodes(t, l)
		etcdPid := c.etcd.cmd.Process.Pid
		var netns []string
		for _, h := range l.Hosts {
			netns = append(netns, h.NetNS)
		}
		start := time.Now()
		if err := l.Stop(); err != nil {
			t.Fatal(err)
		}
		t.Logf("lab with kube cluster stopped in %v", time.Since(start).Round(time.Millisecond))
		checkGone(t, l.Dir, netns, inodes)
		if err := syscall.Kill(etcdPid, 0); err == nil {
			t.Errorf("etcd (pid %d) still running", etcdPid)
		}
	})
}

// TestKubeAPIServerManifest checks the lab's manifest against one kubeadm v1.32 wrote
// (shared/fixtures, beside the repository when present).
func TestKubeAPIServerManifest(t *testing.T) {
	want, err := os.ReadFile("../../../shared/fixtures/kube-apiserver.v1.32.yaml")
	if err != nil {
		t.Skipf("no kubeadm fixture: %v", err)
	}
	if got := kubeAPIServerManifest("192.168.0.11"); !bytes.Equal(got, want) {
		t.Errorf("manifest differs from kubeadm's:\n%s", got)
	}
	if _, err := parsePod(want); err != nil {
		t.Errorf("kubeadm's manifest does not parse: %v", err)
	}
}

func TestParsePod(t *testing.T) {
	base := kubeAPIServerManifest("127.0.1.1")
	for _, tc := range []struct {
		name, from, to, err string
	}{
		{"no image", "    image: registry.k8s.io/kube-apiserver:v1.32.13\n", "", "spec.containers[0].image: Required value"},
		{"mount without volume", "      name: ca-certs\n      readOnly: true\n", "      name: no-such-volume\n      readOnly: true\n", `volumeMounts[0].name: Not found: "no-such-volume"`},
		{"bad hostPath type", "      type: DirectoryOrCreate\n    name: ca-certs\n", "      type: Dir\n    name: ca-certs\n", `hostPath.type: Unsupported value "Dir"`},
		{"not yaml", "kind: Pod\n", "kind: Pod\n\t- x\n", "decode"},
		{"not a pod", "kind: Pod\n", "kind: Deployment\n", "want v1 Pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(string(base), tc.from, tc.to, 1)
			if data == string(base) {
				t.Fatal("test case changes nothing")
			}
			if _, err := parsePod([]byte(data)); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

// TestStandinKubelet runs the stand-in kubelet on a plain lab host with a shell pod
// (no Kubernetes binaries needed).
func TestStandinKubelet(t *testing.T) {
	t.Parallel()
	l := ForTest(t, Options{Hosts: 1})
	h := l.Hosts[0]
	hfs, err := openHostFS(h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := startKubelet(ctx, h, hfs)
	if err := l.onStop(func() error { cancel(); k.wait(); hfs.close(); return nil }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := h.ReadFile(kubeletLogPath)
			t.Logf("kubelet log:\n%s", b)
		}
	})
	inodes := nsInodes(t, l)
	pod := func(script string) []byte {
		return []byte(`apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: kube-system
spec:
  containers:
  - command:
    - sh
    - -c
    - ` + script + `
    env:
    - name: GREETING
      value: hello
    image: example/web
    name: web
    volumeMounts:
    - mountPath: /data
      name: data
    - mountPath: /etc/web.conf
      name: conf
  volumes:
  - hostPath:
      path: /var/lib/web
      type: DirectoryOrCreate
    name: data
  - hostPath:
      path: /etc/web.conf
      type: FileOrCreate
    name: conf
`)
	}
	const manifest = KubeManifestsDir + "/web.yaml"
	log := func() string { b, _ := h.ReadFile(kubeletLogPath); return string(b) }
	podLog := func() string { b, _ := h.ReadFile(KubeletLogDir + "/web.log"); return string(b) }

	if err := h.WriteFile(manifest, pod(`echo "up $GREETING $(hostname)"; exec sleep 600`), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the pod to start", func() bool { return strings.Contains(podLog(), "up hello h1\n") })
	if n := k.startsOf("web"); n != 1 {
		t.Errorf("starts = %d, want 1", n)
	}
	out, err := h.Exec(ctx, "stat -c '%F %s' /var/lib/web /etc/web.conf")
	if err != nil || string(out) != "directory 4096\nregular empty file 0\n" {
		t.Errorf("host paths: %v %q", err, out)
	}

	// A dotfile is no pod; an invalid file is logged and not run.
	if err := h.WriteFile(KubeManifestsDir+"/.web.yaml.swp", pod("exit 1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.WriteFile(KubeManifestsDir+"/broken.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the broken manifest to be rejected", func() bool {
		return strings.Contains(log(), "could not process manifest file "+KubeManifestsDir+"/broken.yaml")
	})
	if strings.Contains(log(), ".web.yaml.swp") || k.startsOf("broken") != 0 {
		t.Errorf("a dotfile or an invalid manifest ran:\n%s", log())
	}

	// A change stops the old process and starts the new one; one that exits
	// restarts with a back-off.
	if err := h.WriteFile(manifest, pod(`echo crash; exit 3`), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "three crashes", func() bool { return k.startsOf("web") >= 4 })
	if !strings.Contains(log(), "exit code 3") || !strings.Contains(log(), "back-off 2s") {
		t.Errorf("kubelet log:\n%s", log())
	}
	if strings.Count(podLog(), "up hello") != 1 {
		t.Errorf("pod log:\n%s", podLog())
	}

	// A second file with the same pod name runs too, with a warning.
	if err := h.WriteFile(manifest, pod(`exec sleep 600`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := h.Exec(ctx, "cp "+manifest+" "+manifest+".bak"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	waitFor(t, 10*time.Second, "the duplicate warning", func() bool { return strings.Contains(log(), "duplicate pod name: pod kube-system/web") })
	waitFor(t, 10*time.Second, "two sleeps", func() bool { return len(pidsIn(inodes)) == 2 })

	// Removing the files stops the pods.
	if out, err := h.Exec(ctx, "rm "+manifest+" "+manifest+".bak"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	waitFor(t, 15*time.Second, "the pods to stop", func() bool { return len(pidsIn(inodes)) == 0 })
}
