// Command kubebuild builds the kube-apiserver and kubectl that lab kube clusters run
// (internal/lab: StartKube), from k8s.io/kubernetes through the Go module proxy, into
// $HOSTPLAN_KUBE_BIN_DIR or $HOME/.cache/hostplan/kube-<version> (the rule of
// lab.KubeBinDir). Binaries already there that report the right version are kept: a
// build takes ~8 minutes on 2 cores. Run it from this directory (`make kube-bins`): it
// is its own module so that the main module does not depend on Kubernetes.
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const version = "v1.32.13"

// ldflags stamp the version the release build would: without them /version and
// `kubectl version` say v0.0.0, and tools that read the version would be misled.
var ldflags = strings.Join([]string{
	"-s", "-w",
	"-X", "k8s.io/component-base/version.gitVersion=" + version,
	"-X", "k8s.io/component-base/version.gitMajor=1",
	"-X", "k8s.io/component-base/version.gitMinor=32",
	"-X", "k8s.io/component-base/version.gitTreeState=clean",
	"-X", "k8s.io/client-go/pkg/version.gitVersion=" + version,
	"-X", "k8s.io/client-go/pkg/version.gitMajor=1",
	"-X", "k8s.io/client-go/pkg/version.gitMinor=32",
	"-X", "k8s.io/client-go/pkg/version.gitTreeState=clean",
}, " ")

var binaries = []struct {
	name, pkg string
	version   []string // arguments that print the version
}{
	{"kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver", []string{"--version"}},
	{"kubectl", "k8s.io/kubernetes/cmd/kubectl", []string{"version", "--client"}},
}

func binDir() string {
	if d := os.Getenv("HOSTPLAN_KUBE_BIN_DIR"); d != "" {
		return d
	}
	home := os.Getenv("HOME")
	if home == "" {
		home = "/root"
	}
	return filepath.Join(home, ".cache", "hostplan", "kube-"+version)
}

// checkVersions says what is wrong with the binaries in dir ("" when nothing is).
func checkVersions(dir string) string {
	for _, b := range binaries {
		p := filepath.Join(dir, b.name)
		if _, err := os.Stat(p); err != nil {
			return fmt.Sprintf("no %s in %s", b.name, dir)
		}
		out, err := exec.Command(p, b.version...).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%s: %v", p, err)
		}
		if !strings.Contains(string(out), version) {
			return fmt.Sprintf("%s reports %q, want %s", p, strings.TrimSpace(string(out)), version)
		}
	}
	return ""
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kube-bins:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := binDir()
	why := checkVersions(dir)
	if why == "" {
		fmt.Printf("kube-bins: kube-apiserver and kubectl %s are in %s\n", version, dir)
		return nil
	}
	if b, err := os.ReadFile("go.mod"); err != nil || !bytes.Contains(b, []byte("module github.com/hostplan/hostplan/internal/lab/kubebuild\n")) {
		return fmt.Errorf("run me from internal/lab/kubebuild (go.mod: %v)", err)
	}
	fmt.Printf("kube-bins: building kube-apiserver and kubectl %s into %s (%s); takes ~8 min on 2 cores\n", version, dir, why)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	// Build beside the cache dir and move the binaries in only once both work, so an
	// interrupted build leaves no half-written binary behind.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".kube-bins-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	args := []string{"build", "-mod=readonly", "-trimpath", "-ldflags", ldflags, "-o", tmp + "/"}
	for _, b := range binaries {
		args = append(args, b.pkg)
	}
	start := time.Now()
	cmd := exec.Command(goCmd, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	took := time.Since(start).Round(time.Second)
	if why := checkVersions(tmp); why != "" {
		return fmt.Errorf("built binaries: %s", why)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, b := range binaries {
		if err := os.Rename(filepath.Join(tmp, b.name), filepath.Join(dir, b.name)); err != nil {
			return err
		}
	}
	fmt.Printf("kube-bins: built kube-apiserver and kubectl %s in %v\n", version, took)
	return nil
}
