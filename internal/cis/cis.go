// Package cis audits a control-plane node's kube-apiserver against what the CIS
// Kubernetes Benchmark asks of its audit logging and of the static pod manifest's file:
// the audit flags and their minimums, the policy file, the manifest's mode and owner,
// and that audit events are being written. Gather reads a node; Evaluate is pure.
package cis

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/hostplan/hostplan/internal/kubeyaml"
	"github.com/hostplan/hostplan/internal/transport"
)

// DefaultManifest is where kubeadm writes the kube-apiserver static pod.
const DefaultManifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"

// Finding is one check on one host.
type Finding struct {
	Check string `json:"check"`
	Pass  bool   `json:"pass"`
	Why   string `json:"why,omitempty"`
}

// Evidence is what the checks look at on one node. Paths in flags are read on the node
// as written: kubeadm and the vendor procedure mount them into the pod at the same path.
type Evidence struct {
	ManifestPath string
	Manifest     []byte
	Info         *transport.FileInfo
	// PolicyExists says whether --audit-policy-file names a file on the node.
	PolicyExists bool
	// LogAge is how long ago the audit log file was last written (by the node's clock);
	// LogMissing is set when there is no such file.
	LogAge     time.Duration
	LogMissing bool
}

// ErrNotMaster is returned by Gather for a host without the manifest.
var ErrNotMaster = errors.New("no kube-apiserver static pod manifest")

// Gather reads the evidence on one node over its connection.
func Gather(ctx context.Context, conn transport.Conn, manifest string) (*Evidence, error) {
	ev := &Evidence{ManifestPath: manifest}
	var err error
	if ev.Manifest, err = conn.ReadFile(ctx, manifest); errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotMaster
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", manifest, err)
	}
	if ev.Info, err = conn.Stat(ctx, manifest); err != nil {
		return nil, fmt.Errorf("stat %s: %w", manifest, err)
	}
	// A manifest without readable flags has none here; Evaluate reports why.
	flags, _ := flagMap(ev.Manifest)
	if p := flags["audit-policy-file"]; p != "" {
		_, err := conn.Stat(ctx, p)
		ev.PolicyExists = err == nil
	}
	if p := flags["audit-log-path"]; p != "" && p != "-" {
		// The node's own clock on both sides: this machine's may be off.
		res, err := conn.Run(ctx, "stat -c %Y -- "+transport.ShellQuote(p)+" 2>/dev/null || echo missing; date +%s", nil)
		if err != nil {
			return nil, fmt.Errorf("look at the audit log %s: %w", p, err)
		}
		lines := strings.Fields(string(res.Stdout))
		if len(lines) != 2 {
			return nil, fmt.Errorf("look at the audit log %s: unexpected output %q", p, res.Stdout)
		}
		if lines[0] == "missing" {
			ev.LogMissing = true
		} else {
			mtime, err1 := strconv.ParseInt(lines[0], 10, 64)
			now, err2 := strconv.ParseInt(lines[1], 10, 64)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("look at the audit log %s: %w", p, err)
			}
			ev.LogAge = time.Duration(now-mtime) * time.Second
		}
	}
	return ev, nil
}

// flagMap is the kube-apiserver container's flags by name.
func flagMap(manifest []byte) (map[string]string, error) {
	c, err := kubeyaml.ParseContainer(manifest, "kube-apiserver")
	if err != nil {
		return nil, err
	}
	flags, err := c.Flags()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, f := range flags {
		m[f.Name] = f.Value
	}
	return m, nil
}

// Evaluate runs every check on the evidence. window is how recent the last audit event
// must be.
func Evaluate(ev *Evidence, window time.Duration) []Finding {
	var out findings
	m, err := flagMap(ev.Manifest)
	if err != nil {
		out.add("manifest readable", false, "%s: %v", ev.ManifestPath, err)
		return out
	}
	logPath := m["audit-log-path"]
	out.auditLogPath(logPath)
	out.auditLogLimits(m)
	out.auditPolicy(m["audit-policy-file"], ev.PolicyExists)
	perm := ev.Info.Mode.Perm()
	out.add("manifest permissions", perm&0o177 == 0, "%s has mode %04o, want 0600 or stricter", ev.ManifestPath, perm)
	out.add("manifest owner", ev.Info.UID == 0 && ev.Info.GID == 0, "%s is owned by %d:%d, want root:root (0:0)", ev.ManifestPath, ev.Info.UID, ev.Info.GID)
	out.recentEvents(ev, logPath, window)
	return out
}

type findings []Finding

// add formats why only for a failed check: a passed one has none.
func (fs *findings) add(check string, pass bool, why string, args ...any) {
	f := Finding{Check: check, Pass: pass}
	if !pass {
		f.Why = fmt.Sprintf(why, args...)
	}
	*fs = append(*fs, f)
}

func (fs *findings) auditLogPath(logPath string) {
	switch logPath {
	case "":
		fs.add("audit-log-path", false, "--audit-log-path is not set")
	case "-":
		fs.add("audit-log-path", false, "--audit-log-path is \"-\" (stdout): there is no log file to collect")
	default:
		fs.add("audit-log-path", true, "")
	}
}

// auditLogLimits checks that the log keeps its events long enough, in enough and big
// enough files.
func (fs *findings) auditLogLimits(m map[string]string) {
	for _, lim := range []struct {
		flag string
		min  int
	}{{"audit-log-maxage", 30}, {"audit-log-maxbackup", 10}, {"audit-log-maxsize", 100}} {
		v, set := m[lim.flag]
		n, err := strconv.Atoi(v)
		switch {
		case !set:
			fs.add(lim.flag, false, "--%s is not set (want %d or more)", lim.flag, lim.min)
		case err != nil:
			fs.add(lim.flag, false, "--%s=%s is not a number", lim.flag, v)
		default:
			fs.add(lim.flag, n >= lim.min, "--%s=%d, want %d or more", lim.flag, n, lim.min)
		}
	}
}

func (fs *findings) auditPolicy(policy string, exists bool) {
	switch {
	case policy == "":
		fs.add("audit-policy-file", false, "--audit-policy-file is not set")
	default:
		fs.add("audit-policy-file", exists, "--audit-policy-file=%s, but there is no such file on the node", policy)
	}
}

// recentEvents checks that the API server is writing audit events, not merely
// configured to.
func (fs *findings) recentEvents(ev *Evidence, logPath string, window time.Duration) {
	switch {
	case logPath == "" || logPath == "-":
		fs.add("audit events recent", false, "no audit log file configured")
	case ev.LogMissing:
		fs.add("audit events recent", false, "%s does not exist: no audit event was written", logPath)
	default:
		fs.add("audit events recent", ev.LogAge <= window, "the last write to %s was %s ago, more than %s", logPath, ev.LogAge.Round(time.Second), window)
	}
}
