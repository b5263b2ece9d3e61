package lab

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A kube cluster on lab masters looks like a kubeadm v1.32 control plane with stacked
// etcd, as far as a tool working on the masters can tell: kube-apiserver runs from the
// static pod manifest /etc/kubernetes/manifests/kube-apiserver.yaml, written as kubeadm
// writes it and (re)started by a stand-in kubelet (kubelet.go) when the file changes or
// the process exits; kubeadm's PKI under /etc/kubernetes/pki, admin.conf, and the
// kubeadm-config ConfigMap. Each master's apiserver listens on 6443 in the master's own
// network namespace; the masters share one etcd (Debian's etcd-server), which runs
// outside the hosts and is reached from each at https://127.0.0.1:2379 (forward.go).
//
// Where it differs from a real master:
//   - no container runtime: the pod's command runs as a host process, with host paths
//     as they are (a volumeMount that is missing or read-only goes unnoticed), no
//     image, no probes, a crash back-off of 1 s doubling to 5 s (kubelet: 10 s to 5 min);
//   - no kubelet in the API: no Node objects, no mirror pods, and only the
//     kube-apiserver manifest (no etcd, controller-manager or scheduler pods);
//   - the advertise addresses are loopback (127.0.1.N), which the API refuses as
//     endpoints: the "kubernetes" Service has no Endpoints (logged every 10 s);
//   - hosts share the machine's PID namespace: `ps` in a master lists every master's
//     apiserver (APIServerPID tells which is whose).

// KubeBinDir is where kube-apiserver and kubectl are looked up: $HOSTPLAN_KUBE_BIN_DIR,
// or $HOME/.cache/hostplan/kube-<KubeVersion> (where `make kube-bins` builds them;
// internal/lab/kubebuild uses the same rule).
func KubeBinDir() string {
	if d := os.Getenv("HOSTPLAN_KUBE_BIN_DIR"); d != "" {
		return d
	}
	home := os.Getenv("HOME")
	if home == "" {
		home = "/root"
	}
	return filepath.Join(home, ".cache", "hostplan", "kube-"+KubeVersion)
}

var kubeBinCheck struct {
	once   sync.Once
	reason string
}

// KubeUnavailable says why a kube cluster cannot run here ("" when it can): labs
// unavailable, no etcd, or no kube-apiserver and kubectl of KubeVersion in KubeBinDir.
func KubeUnavailable() string {
	if r := Unavailable(); r != "" {
		return r
	}
	if _, err := os.Stat(EtcdPath); err != nil {
		return "no etcd at " + EtcdPath + " (apt-get install etcd-server)"
	}
	kubeBinCheck.once.Do(func() { kubeBinCheck.reason = checkKubeBins(KubeBinDir()) })
	return kubeBinCheck.reason
}

func checkKubeBins(dir string) string {
	for _, c := range []struct{ bin, arg string }{
		{"kube-apiserver", "--version"},
		{"kubectl", "version --client"},
	} {
		p := filepath.Join(dir, c.bin)
		if _, err := os.Stat(p); err != nil {
			return fmt.Sprintf("no %s in %s (run make kube-bins)", c.bin, dir)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, p, strings.Fields(c.arg)...).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), KubeVersion) {
			return fmt.Sprintf("%s is not %s (%v: %s; run make kube-bins)", p, KubeVersion, err, strings.TrimSpace(string(out)))
		}
	}
	return ""
}

// KubeOptions configure StartKube.
type KubeOptions struct {
	Masters []*Host // control-plane hosts; default: all the lab's hosts
}

// KubeCluster is a control plane on lab masters. It stops with the lab.
type KubeCluster struct {
	Masters []*Host
	Version string // KubeVersion
	// EtcdEndpoint is the etcd the masters share, in the real machine's network
	// namespace (TLS; masters reach it as https://127.0.0.1:2379).
	EtcdEndpoint string
	// ControlPlaneEndpoint is kubeadm's controlPlaneEndpoint (the first master's
	// address, port 6443: from inside any master it reaches that master's own apiserver).
	ControlPlaneEndpoint string

	dir    string // Lab.Dir/kube
	cancel context.CancelFunc
	etcd   *etcd

	mu       sync.Mutex
	masters  map[*Host]*kubeMaster
	closers  []func() error // undo what StartKube set up, last first
	stopped  bool
	stopOnce sync.Once
	stopErr  error
}

// kubeMaster is what the cluster keeps per master.
type kubeMaster struct {
	fs      *hostFS
	kubelet *kubelet
	client  *http.Client // admin credentials, dialing inside the master

	logMu sync.Mutex
	logs  map[string]string // the host's logs as they were at stop
}

func (km *kubeMaster) saveLogs() {
	logs := map[string]string{}
	for _, p := range []string{kubeletLogPath, apiserverLogPath} {
		b, _ := km.fs.ReadFile(p)
		logs[p] = string(b)
	}
	km.logMu.Lock()
	km.logs = logs
	km.logMu.Unlock()
}

func (km *kubeMaster) readLog(p string) string {
	km.logMu.Lock()
	logs := km.logs
	km.logMu.Unlock()
	if logs != nil {
		return logs[p]
	}
	b, _ := km.fs.ReadFile(p)
	return string(b)
}

// StartKube sets up the control plane on the masters and waits until every apiserver
// is ready, then stores the kubeadm-config ConfigMap. ctx bounds the start only; the
// cluster runs until the lab stops.
func (l *Lab) StartKube(ctx context.Context, opts KubeOptions) (c *KubeCluster, err error) {
	if r := KubeUnavailable(); r != "" {
		return nil, errors.New("lab: kube cluster unavailable: " + r)
	}
	masters := opts.Masters
	if len(masters) == 0 {
		masters = l.Hosts
	}
	n, err := l.kubes.claim(l, masters)
	if err != nil {
		return nil, err
	}
	kctx, cancel := context.WithCancel(context.Background())
	c = &KubeCluster{
		Masters:              masters,
		Version:              KubeVersion,
		ControlPlaneEndpoint: masters[0].Address + ":6443",
		dir:                  filepath.Join(l.Dir, fmt.Sprintf("kube-%d", n)),
		cancel:               cancel,
		masters:              map[*Host]*kubeMaster{},
	}
	if err := os.Mkdir(c.dir, 0o700); err != nil {
		cancel()
		return nil, fmt.Errorf("lab: StartKube: %w", err)
	}
	if err := l.onStop(c.stop); err != nil {
		cancel()
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.stop()
			c = nil
		}
	}()

	p, err := c.makePKI(masters)
	if err != nil {
		return c, fmt.Errorf("lab: kube PKI: %w", err)
	}

	etcdDir := filepath.Join(c.dir, "etcd")
	if err := writeFiles(etcdDir, map[string][]byte{
		"pki/ca.crt":     p.etcdCA.certPEM(),
		"pki/server.crt": p.etcdServer.certPEM(),
		"pki/server.key": p.etcdServer.keyPEM(),
	}); err != nil {
		return c, fmt.Errorf("lab: etcd files: %w", err)
	}
	etcdPool := x509.NewCertPool()
	etcdPool.AddCert(p.etcdCA.cert)
	hc, err := tls.X509KeyPair(p.etcdHealth.certPEM(), p.etcdHealth.keyPEM())
	if err != nil {
		return c, err
	}
	e, err := startEtcd(ctx, etcdDir, etcdPool, hc)
	if err != nil {
		return c, err
	}
	if err := c.keep(e.stop); err != nil {
		return c, err
	}
	c.etcd = e
	c.EtcdEndpoint = e.endpoint

	errs := make([]error, len(masters))
	var wg sync.WaitGroup
	for i, m := range masters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.setupMaster(kctx, m, p)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	for _, m := range masters {
		if err := c.WaitHealthy(ctx, m); err != nil {
			return c, fmt.Errorf("%w\nstand-in kubelet log of %s:\n%s\nlast lines of its kube-apiserver log:\n%s",
				err, m.Name, c.KubeletLog(m), lastLines(c.APIServerLog(m), 30))
		}
	}
	if err := c.uploadKubeadmConfig(ctx); err != nil {
		return c, err
	}
	return c, nil
}

// kubeState is the lab's clusters: each has its own etcd, PKI and directory, and a
// host is a master of one cluster at most.
type kubeState struct {
	mu       sync.Mutex
	clusters int
	masters  map[*Host]bool
}

// claim makes masters the next cluster's, returning its number (1, 2, ...).
func (k *kubeState) claim(l *Lab, masters []*Host) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := map[*Host]bool{}
	for _, m := range masters {
		if m == nil || m.lab != l || seen[m] || k.masters[m] {
			return 0, errors.New("lab: StartKube: masters must be distinct hosts of this lab, in no other cluster")
		}
		seen[m] = true
	}
	if k.masters == nil {
		k.masters = map[*Host]bool{}
	}
	for m := range seen {
		k.masters[m] = true
	}
	k.clusters++
	return k.clusters, nil
}

// kubePKI is the cluster's certificates: shared ones and one set per master.
type kubePKI struct {
	ca, frontProxyCA, etcdCA         certKey
	sa                               certKey // key only
	etcdServer, etcdPeer, etcdHealth certKey
	perMaster                        map[*Host]masterPKI
	saPub                            []byte
}

type masterPKI struct {
	apiserver, kubeletClient, frontProxyClient, etcdClient, admin certKey
}

func (c *KubeCluster) makePKI(masters []*Host) (*kubePKI, error) {
	keys := newKeyPool(8 + 5*len(masters))
	defer keys.close()
	p := &kubePKI{perMaster: map[*Host]masterPKI{}}
	var err error
	if p.ca, err = newCA(keys, "kubernetes"); err != nil {
		return nil, err
	}
	if p.frontProxyCA, err = newCA(keys, "front-proxy-ca"); err != nil {
		return nil, err
	}
	if p.etcdCA, err = newCA(keys, "etcd-ca"); err != nil {
		return nil, err
	}
	if p.sa.key, err = keys.get(); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(p.sa.key.Public())
	if err != nil {
		return nil, err
	}
	p.saPub = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	loopback := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
	// One etcd serves every master: its certificates name them all.
	etcdDNS := []string{"localhost"}
	etcdIPs := append([]net.IP{}, loopback...)
	for _, m := range masters {
		etcdDNS = append(etcdDNS, m.Name)
		etcdIPs = append(etcdIPs, net.ParseIP(m.Address))
	}
	if p.etcdServer, err = p.etcdCA.issue(keys, certSpec{cn: masters[0].Name, dns: etcdDNS, ips: etcdIPs, server: true, client: true}); err != nil {
		return nil, err
	}
	if p.etcdPeer, err = p.etcdCA.issue(keys, certSpec{cn: masters[0].Name, dns: etcdDNS, ips: etcdIPs, server: true, client: true}); err != nil {
		return nil, err
	}
	if p.etcdHealth, err = p.etcdCA.issue(keys, certSpec{cn: "kube-etcd-healthcheck-client", client: true}); err != nil {
		return nil, err
	}
	for _, m := range masters {
		var mp masterPKI
		if mp.apiserver, err = p.ca.issue(keys, certSpec{
			cn:     "kube-apiserver",
			dns:    []string{m.Name, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
			ips:    []net.IP{net.ParseIP("10.96.0.1"), net.ParseIP(m.Address), net.ParseIP("127.0.0.1"), net.ParseIP(masters[0].Address)},
			server: true,
		}); err != nil {
			return nil, err
		}
		if mp.kubeletClient, err = p.ca.issue(keys, certSpec{cn: "kube-apiserver-kubelet-client", orgs: []string{"kubeadm:cluster-admins"}, client: true}); err != nil {
			return nil, err
		}
		if mp.frontProxyClient, err = p.frontProxyCA.issue(keys, certSpec{cn: "front-proxy-client", client: true}); err != nil {
			return nil, err
		}
		if mp.etcdClient, err = p.etcdCA.issue(keys, certSpec{cn: "kube-apiserver-etcd-client", client: true}); err != nil {
			return nil, err
		}
		if mp.admin, err = p.ca.issue(keys, certSpec{cn: "kubernetes-admin", orgs: []string{"system:masters"}, client: true}); err != nil {
			return nil, err
		}
		p.perMaster[m] = mp
	}
	return p, nil
}

// writeFiles writes files (relative path: content) under dir on the real machine; keys
// mode 0600.
func writeFiles(dir string, files map[string][]byte) error {
	for rel, data := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, ".key") {
			mode = 0o600
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			return err
		}
	}
	return nil
}

// setupMaster lays out the master as kubeadm would, binds the binaries in, starts the
// etcd forwarder and the stand-in kubelet (which starts the apiserver).
func (c *KubeCluster) setupMaster(ctx context.Context, m *Host, p *kubePKI) error {
	fail := func(err error) error { return fmt.Errorf("lab: kube master %s: %w", m.Name, err) }
	hfs, err := openHostFS(m)
	if err != nil {
		return fail(err)
	}
	if err := c.keep(func() error { hfs.close(); return nil }); err != nil {
		return err
	}
	km := &kubeMaster{fs: hfs}
	// Runs before the host's files go: a test that failed still shows the logs.
	if err := c.keep(func() error { km.saveLogs(); return nil }); err != nil {
		return err
	}
	mp := p.perMaster[m]
	pki := KubePKIDir + "/"
	files := []struct {
		path string
		data []byte
	}{
		{pki + "ca.crt", p.ca.certPEM()},
		{pki + "ca.key", p.ca.keyPEM()},
		{pki + "apiserver.crt", mp.apiserver.certPEM()},
		{pki + "apiserver.key", mp.apiserver.keyPEM()},
		{pki + "apiserver-kubelet-client.crt", mp.kubeletClient.certPEM()},
		{pki + "apiserver-kubelet-client.key", mp.kubeletClient.keyPEM()},
		{pki + "apiserver-etcd-client.crt", mp.etcdClient.certPEM()},
		{pki + "apiserver-etcd-client.key", mp.etcdClient.keyPEM()},
		{pki + "front-proxy-ca.crt", p.frontProxyCA.certPEM()},
		{pki + "front-proxy-ca.key", p.frontProxyCA.keyPEM()},
		{pki + "front-proxy-client.crt", mp.frontProxyClient.certPEM()},
		{pki + "front-proxy-client.key", mp.frontProxyClient.keyPEM()},
		{pki + "sa.key", p.sa.keyPEM()},
		{pki + "sa.pub", p.saPub},
		{pki + "etcd/ca.crt", p.etcdCA.certPEM()},
		{pki + "etcd/ca.key", p.etcdCA.keyPEM()},
		{pki + "etcd/server.crt", p.etcdServer.certPEM()},
		{pki + "etcd/server.key", p.etcdServer.keyPEM()},
		{pki + "etcd/peer.crt", p.etcdPeer.certPEM()},
		{pki + "etcd/peer.key", p.etcdPeer.keyPEM()},
		{pki + "etcd/healthcheck-client.crt", p.etcdHealth.certPEM()},
		{pki + "etcd/healthcheck-client.key", p.etcdHealth.keyPEM()},
		{KubeAdminConf, kubeconfig(p.ca, "https://127.0.0.1:6443", "kubernetes", "kubernetes-admin", mp.admin)},
	}
	for _, f := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(f.path, ".key") || strings.HasSuffix(f.path, ".conf") {
			mode = 0o600
		}
		if err := hfs.WriteFile(f.path, f.data, mode); err != nil {
			return fail(err)
		}
	}
	for _, b := range []struct{ src, dst string }{
		{filepath.Join(KubeBinDir(), "kube-apiserver"), kubeAPIServerBinary},
		{filepath.Join(KubeBinDir(), "kubectl"), kubectlBinary},
	} {
		if err := bindFileInto(m, hfs, b.src, b.dst); err != nil {
			return fail(err)
		}
	}
	fwd, err := m.forward("127.0.0.1:2379", strings.TrimPrefix(c.etcd.endpoint, "https://"))
	if err != nil {
		return fail(err)
	}
	if err := c.keep(func() error { fwd.close(); return nil }); err != nil {
		return err
	}
	admin, err := tls.X509KeyPair(mp.admin.certPEM(), mp.admin.keyPEM())
	if err != nil {
		return fail(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.cert)
	km.client = &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return m.DialIn(ctx, addr)
			},
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{admin}},
			// A restarted apiserver drops every connection: keep none.
			DisableKeepAlives: true,
		},
	}
	if err := hfs.MkdirAll(KubeManifestsDir, 0o755); err != nil {
		return fail(err)
	}
	// Kubeadm writes manifests 0600 root:root (CIS 1.1.1, 1.1.2).
	if err := hfs.WriteFile(KubeAPIServerYAML, kubeAPIServerManifest(m.Address), 0o600); err != nil {
		return fail(err)
	}
	k := startKubelet(ctx, m, hfs)
	if err := c.keep(func() error { k.wait(); return nil }); err != nil {
		return err
	}
	km.kubelet = k
	c.mu.Lock()
	c.masters[m] = km
	c.mu.Unlock()
	return nil
}

// bindFileInto makes src (a file on the real machine) appear read-only at dst inside
// the host, without copying ~100 MB per host: a detached bind mount is cloned here and
// attached inside the host's mount namespace, where it lives as long as that namespace.
// Where the kernel cannot (before 5.2, or a sandbox that forbids it), it copies.
func bindFileInto(h *Host, hfs *hostFS, src, dst string) error {
	if err := hfs.WriteFile(dst, nil, 0o755); err != nil { // the mount point
		return err
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return copyFileInto(hfs, src, dst)
	}
	defer unix.Close(tree)
	errc := make(chan error, 1)
	onThrowawayThread(func() {
		if err := h.enter(); err != nil {
			errc <- err
			return
		}
		if err := unix.MoveMount(tree, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			errc <- fmt.Errorf("move_mount %s to %s: %w", src, dst, err)
			return
		}
		if err := unix.MountSetattr(unix.AT_FDCWD, dst, 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			// A writable bind would let the host change the cached binary.
			_ = unix.Unmount(dst, unix.MNT_DETACH)
			errc <- fmt.Errorf("make %s read-only: %w", dst, err)
			return
		}
		errc <- nil
	})
	if err := <-errc; err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return copyFileInto(hfs, src, dst)
		}
		return err
	}
	return nil
}

func copyFileInto(hfs *hostFS, src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return hfs.WriteFile(dst, data, 0o755)
}

// keep registers what undoes a piece of the cluster; when the cluster stopped
// meanwhile (the lab stops during StartKube), it undoes it right away instead.
func (c *KubeCluster) keep(undo func() error) error {
	c.mu.Lock()
	if !c.stopped {
		c.closers = append(c.closers, undo)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	_ = undo()
	return errStopped
}

// stop ends the cluster's pieces that live outside the hosts' processes: stand-in
// kubelets (they kill their pods), forwarders, etcd. Lab.Stop calls it.
func (c *KubeCluster) stop() error {
	c.stopOnce.Do(func() {
		c.cancel() // kubelets kill their pods and end
		c.mu.Lock()
		c.stopped = true
		closers := c.closers
		c.mu.Unlock()
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			if err := closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			c.stopErr = fmt.Errorf("lab: stop kube cluster: %w", err)
		}
	})
	return c.stopErr
}

func (c *KubeCluster) master(m *Host) (*kubeMaster, error) {
	c.mu.Lock()
	km := c.masters[m]
	c.mu.Unlock()
	if km == nil {
		return nil, fmt.Errorf("lab: %v is not a master of this cluster", hostName(m))
	}
	return km, nil
}

func hostName(h *Host) string {
	if h == nil {
		return "<nil host>"
	}
	return h.Name
}

// Kubectl runs kubectl inside master m with /etc/kubernetes/admin.conf and returns its
// stdout; a failure's error holds stderr.
func (c *KubeCluster) Kubectl(ctx context.Context, m *Host, args ...string) ([]byte, error) {
	return c.KubectlInput(ctx, m, nil, args...)
}

// KubectlInput is Kubectl with stdin (e.g. `apply -f -`).
func (c *KubeCluster) KubectlInput(ctx context.Context, m *Host, stdin []byte, args ...string) ([]byte, error) {
	if _, err := c.master(m); err != nil {
		return nil, err
	}
	cmd := m.command(ctx, kubectlBinary)
	cmd.Args = append([]string{"kubectl"}, args...)
	cmd.Env = append(cmd.Env, "KUBECONFIG="+KubeAdminConf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := m.run(cmd); err != nil {
		return stdout.Bytes(), fmt.Errorf("lab: %s: kubectl %s: %w: %s", m.Name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// HTTPClient is an HTTP client with the admin's credentials whose connections start
// inside master m: https://127.0.0.1:6443/... reaches m's own apiserver.
func (c *KubeCluster) HTTPClient(m *Host) *http.Client {
	km, err := c.master(m)
	if err != nil {
		return nil
	}
	return km.client
}

// Get fetches path (e.g. "/readyz?verbose") from m's apiserver, from inside m.
func (c *KubeCluster) Get(ctx context.Context, m *Host, path string) (status int, body []byte, err error) {
	km, err := c.master(m)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://127.0.0.1:6443"+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := km.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("lab: %s: GET %s: %w", m.Name, path, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// Healthy reports whether m's apiserver answers 200 to /livez and /readyz.
func (c *KubeCluster) Healthy(ctx context.Context, m *Host) error {
	for _, p := range []string{"/livez", "/readyz"} {
		st, body, err := c.Get(ctx, m, p)
		if err != nil {
			return err
		}
		if st != http.StatusOK {
			return fmt.Errorf("lab: %s: %s: %d %s", m.Name, p, st, strings.TrimSpace(string(body)))
		}
	}
	return nil
}

// WaitHealthy waits until m's apiserver is healthy (Healthy) or ctx ends.
func (c *KubeCluster) WaitHealthy(ctx context.Context, m *Host) error {
	var last error
	for {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = c.Healthy(hctx, m)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: %s: apiserver not healthy: %w (last: %v)", m.Name, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// APIServerLog is the output of every kube-apiserver started on m so far (each start
// begins with a "=== hostplan-lab kubelet" line). After the lab stopped: as it was then.
func (c *KubeCluster) APIServerLog(m *Host) string {
	km, err := c.master(m)
	if err != nil {
		return ""
	}
	return km.readLog(apiserverLogPath)
}

// KubeletLog is the stand-in kubelet's log on m: manifests seen, starts, exits,
// back-offs, rejected manifests, duplicate pods. After the lab stopped: as it was then.
func (c *KubeCluster) KubeletLog(m *Host) string {
	km, err := c.master(m)
	if err != nil {
		return ""
	}
	return km.readLog(kubeletLogPath)
}

// Restarts is how many times the stand-in kubelet started kube-apiserver on m (the
// first start included).
func (c *KubeCluster) Restarts(m *Host) int {
	km, err := c.master(m)
	if err != nil || km.kubelet == nil {
		return 0
	}
	return km.kubelet.startsOf("kube-apiserver")
}

// Manifest is the kube-apiserver.yaml StartKube wrote on m (kubeadm's, for m's
// address): what a rollback restores.
func (c *KubeCluster) Manifest(m *Host) []byte {
	return kubeAPIServerManifest(m.Address)
}

// APIServerPID is the process id of m's running kube-apiserver (0: none). Lab hosts
// share the machine's PID namespace: `ps` inside a master lists every master's
// apiserver, so a test that checks the running process's flags reads
// /proc/<APIServerPID>/cmdline instead.
func (c *KubeCluster) APIServerPID(m *Host) int {
	km, err := c.master(m)
	if err != nil || km.kubelet == nil {
		return 0
	}
	return km.kubelet.pid("kube-apiserver")
}

// EtcdLog is the shared etcd's log. After the lab stopped: as it was then.
func (c *KubeCluster) EtcdLog() string {
	if c.etcd == nil {
		return ""
	}
	return c.etcd.log()
}

// uploadKubeadmConfig stores the kubeadm-config ConfigMap, as `kubeadm init` does
// once the control plane is up.
func (c *KubeCluster) uploadKubeadmConfig(ctx context.Context) error {
	cm := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]any{"name": "kubeadm-config", "namespace": "kube-system"},
		"data":       map[string]string{"ClusterConfiguration": clusterConfiguration(c.ControlPlaneEndpoint)},
	}
	b, err := json.Marshal(cm)
	if err != nil {
		return err
	}
	var last error
	for range 10 { // kube-system may not exist for a moment after /readyz
		if _, last = c.KubectlInput(ctx, c.Masters[0], b, "create", "-f", "-"); last == nil {
			return nil
		}
		if strings.Contains(last.Error(), "AlreadyExists") {
			return nil
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("lab: create kubeadm-config ConfigMap: %w", last)
}

// KubeForTest starts a kube cluster on l (see StartKube) for a test; it stops with the
// lab. It skips the test with the reason when clusters cannot run here, or fails it
// with HOSTPLAN_LAB_REQUIRED=1 (as ForTest). When the test failed, each master's
// stand-in kubelet log and the end of its apiserver log are logged before the lab stops.
func KubeForTest(t testing.TB, l *Lab, opts KubeOptions) *KubeCluster {
	t.Helper()
	if reason := KubeUnavailable(); reason != "" {
		if os.Getenv("HOSTPLAN_LAB_REQUIRED") == "1" {
			t.Fatal("kube cluster unavailable and HOSTPLAN_LAB_REQUIRED=1: " + reason)
		}
		t.Skip("kube cluster unavailable: " + reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := l.StartKube(ctx, opts)
	if err != nil {
		t.Fatalf("starting kube cluster: %v", err)
	}
	t.Logf("kube cluster (%d masters, %s) ready in %v", len(c.Masters), c.Version, time.Since(start).Round(time.Millisecond))
	// Registered after the lab's cleanup, so it runs before the lab stops.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, m := range c.Masters {
			t.Logf("stand-in kubelet log of %s:\n%s", m.Name, c.KubeletLog(m))
			t.Logf("kube-apiserver log of %s (last 60 lines):\n%s", m.Name, lastLines(c.APIServerLog(m), 60))
		}
		t.Logf("etcd log (last 20 lines):\n%s", lastLines(c.EtcdLog(), 20))
	})
	return c
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
