package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EtcdPath is Debian's etcd (package etcd-server).
const EtcdPath = "/usr/bin/etcd"

// etcd is the cluster's one etcd. It runs in the real machine's namespaces, on
// 127.0.0.1 ports picked at start (a machine's own etcd may hold 2379), so no lab host
// owns it; each master reaches it through a forwarder at its own 127.0.0.1:2379.
type etcd struct {
	cmd      *exec.Cmd
	endpoint string // https://127.0.0.1:PORT
	logPath  string
	done     chan struct{} // closed when the process is gone
	waitErr  error
	finalLog string // the log at stop (the file goes with the lab dir)
}

func (e *etcd) log() string {
	select {
	case <-e.done:
		return e.finalLog
	default:
		b, _ := os.ReadFile(e.logPath)
		return string(b)
	}
}

// freePorts picks n free TCP ports on 127.0.0.1. Another process may take one before
// etcd binds it; start then fails and is retried.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startEtcd starts etcd with its data and TLS files under dir (pki/: ca.crt,
// server.crt/key) and waits until it answers /health with client (a certificate
// signed by the etcd CA).
func startEtcd(ctx context.Context, dir string, caPool *x509.CertPool, client tls.Certificate) (*etcd, error) {
	var lastErr error
	for range 3 {
		e, err := tryStartEtcd(ctx, dir, caPool, client)
		if err == nil {
			return e, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func tryStartEtcd(ctx context.Context, dir string, caPool *x509.CertPool, client tls.Certificate) (*etcd, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, fmt.Errorf("lab: etcd: pick ports: %w", err)
	}
	clientURL := "https://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	pki := filepath.Join(dir, "pki")
	e := &etcd{endpoint: clientURL, logPath: filepath.Join(dir, "etcd.log"), done: make(chan struct{})}
	logf, err := os.OpenFile(e.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: etcd: %w", err)
	}
	defer logf.Close()
	e.cmd = exec.Command(EtcdPath,
		"--name=lab",
		"--data-dir="+filepath.Join(dir, "data"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=lab="+peerURL,
		"--initial-cluster-state=new",
		"--client-cert-auth=true",
		"--trusted-ca-file="+filepath.Join(pki, "ca.crt"),
		"--cert-file="+filepath.Join(pki, "server.crt"),
		"--key-file="+filepath.Join(pki, "server.key"),
		"--snapshot-count=10000",
		"--logger=zap", "--log-outputs=stderr",
	)
	// No ETCD_* variable of ours may leak in: etcd reads its flags from them too.
	e.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir}
	e.cmd.Dir = dir
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	// Killed with the lab process, even by SIGKILL: no lab host holds etcd, so Clean
	// could not find it. The parent-death signal follows the thread that forked, so
	// that thread stays locked to a goroutine that lives as long as etcd.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := e.cmd.Start(); err != nil {
			startErr <- err
			return
		}
		startErr <- nil
		e.waitErr = e.cmd.Wait()
		b, _ := os.ReadFile(e.logPath)
		e.finalLog = string(b)
		close(e.done)
	}()
	if err := <-startErr; err != nil {
		return nil, fmt.Errorf("lab: start etcd: %w", err)
	}
	if err := e.waitHealthy(ctx, caPool, client); err != nil {
		e.stop()
		return nil, fmt.Errorf("lab: etcd at %s: %w; log:\n%s", clientURL, err, tail(e.logPath, 20))
	}
	return e, nil
}

func (e *etcd) waitHealthy(ctx context.Context, caPool *x509.CertPool, client tls.Certificate) error {
	hc := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: caPool, Certificates: []tls.Certificate{client}},
			DisableKeepAlives: true,
		},
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.endpoint+"/health", nil)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"true"`) {
				return nil
			}
			err = fmt.Errorf("/health: %s: %s", resp.Status, body)
		}
		last = err
		select {
		case <-e.done:
			return fmt.Errorf("exited: %v", e.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not healthy: %w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends etcd: SIGTERM, SIGKILL after 5 s.
func (e *etcd) stop() error {
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = e.cmd.Process.Kill()
	select {
	case <-e.done:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("lab: etcd survives SIGKILL")
	}
}

// tail is the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	return lastLines(string(b), n)
}
