package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// The stand-in kubelet does what a real kubelet does with static pods, as far as tools
// that edit /etc/kubernetes/manifests can tell: it watches that directory, runs every
// file's pod (no image: the container's command runs inside the host with host paths),
// creates DirectoryOrCreate/FileOrCreate host paths, restarts a pod when its file
// changes and restarts crashed containers with a back-off. It runs in the lab process,
// one per master.

const (
	// KubeletLogDir holds, inside a master, the stand-in kubelet's own log
	// (kubelet.log) and one log per pod (<pod name>.log: the containers' stdout and
	// stderr, with a marker line at every start).
	KubeletLogDir = "/var/log/pods-standin"
	// ContainerLogDir is where kubelet keeps containers' logs, one file per start.
	ContainerLogDir = "/var/log/pods"

	kubeletLogPath   = KubeletLogDir + "/kubelet.log"
	apiserverLogPath = KubeletLogDir + "/kube-apiserver.log"

	kubeletPoll = 200 * time.Millisecond
	// Kubelet's CrashLoopBackOff starts at 10 s and caps at 5 min; tests cannot wait
	// that long.
	backoffStart = time.Second
	backoffMax   = 5 * time.Second
	// A container that ran this long without crashing starts over at backoffStart
	// (kubelet: 10 min).
	backoffReset = 10 * time.Second
	// Kubelet's default terminationGracePeriodSeconds is 30 s.
	terminationGrace = 10 * time.Second
)

// podManifest is the part of a static pod that the stand-in uses. Like kubelet, it
// ignores fields it does not know.
type podManifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Containers []container `yaml:"containers"`
		Volumes    []struct {
			Name     string `yaml:"name"`
			HostPath *struct {
				Path string `yaml:"path"`
				Type string `yaml:"type"`
			} `yaml:"hostPath"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

type container struct {
	Name       string   `yaml:"name"`
	Image      string   `yaml:"image"`
	Command    []string `yaml:"command"`
	Args       []string `yaml:"args"`
	WorkingDir string   `yaml:"workingDir"`
	Env        []struct {
		Name      string     `yaml:"name"`
		Value     string     `yaml:"value"`
		ValueFrom *yaml.Node `yaml:"valueFrom"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// parsePod decodes and validates a static pod the way kubelet rejects one (a subset of
// its validation: what a hand edit of a manifest typically gets wrong).
func parsePod(data []byte) (*podManifest, error) {
	var p podManifest
	if err := yaml.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var errs []string
	if p.APIVersion != "v1" || p.Kind != "Pod" {
		errs = append(errs, fmt.Sprintf("apiVersion %q kind %q: want v1 Pod", p.APIVersion, p.Kind))
	}
	if p.Metadata.Name == "" {
		errs = append(errs, "metadata.name: Required value")
	}
	if p.Metadata.Namespace == "" {
		p.Metadata.Namespace = "default"
	}
	if len(p.Spec.Containers) == 0 {
		errs = append(errs, "spec.containers: Required value")
	}
	vols := map[string]bool{}
	for i, v := range p.Spec.Volumes {
		if !dns1123Label.MatchString(v.Name) || vols[v.Name] {
			errs = append(errs, fmt.Sprintf("spec.volumes[%d].name: Invalid or duplicate value %q", i, v.Name))
		}
		vols[v.Name] = true
		if v.HostPath != nil {
			switch v.HostPath.Type {
			case "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice":
			default:
				errs = append(errs, fmt.Sprintf("spec.volumes[%d].hostPath.type: Unsupported value %q", i, v.HostPath.Type))
			}
			if !path.IsAbs(v.HostPath.Path) {
				errs = append(errs, fmt.Sprintf("spec.volumes[%d].hostPath.path: must be absolute: %q", i, v.HostPath.Path))
			}
		}
	}
	names := map[string]bool{}
	for i, c := range p.Spec.Containers {
		if !dns1123Label.MatchString(c.Name) || names[c.Name] {
			errs = append(errs, fmt.Sprintf("spec.containers[%d].name: Invalid or duplicate value %q", i, c.Name))
		}
		names[c.Name] = true
		if c.Image == "" {
			errs = append(errs, fmt.Sprintf("spec.containers[%d].image: Required value", i))
		}
		mounts := map[string]bool{}
		for j, m := range c.VolumeMounts {
			if !vols[m.Name] {
				errs = append(errs, fmt.Sprintf("spec.containers[%d].volumeMounts[%d].name: Not found: %q", i, j, m.Name))
			}
			if mounts[m.MountPath] {
				errs = append(errs, fmt.Sprintf("spec.containers[%d].volumeMounts[%d].mountPath: Invalid value: %q: must be unique", i, j, m.MountPath))
			}
			mounts[m.MountPath] = true
		}
	}
	if len(errs) > 0 {
		return nil, errors.New("invalid pod: " + strings.Join(errs, "; "))
	}
	return &p, nil
}

// kubelet is the stand-in kubelet of one master.
type kubelet struct {
	h   *Host
	fs  *hostFS
	ctx context.Context
	wg  sync.WaitGroup

	pods    map[string]*podRun // by manifest file name; only the sync loop uses it
	lastDup string

	mu     sync.Mutex
	starts map[string]int   // container starts by pod name
	live   map[string][]int // running containers' pids by pod name, oldest first
	logMu  sync.Mutex
}

// podRun is one manifest file's pod, with one worker per container.
type podRun struct {
	file string
	sum  [sha256.Size]byte
	pod  *podManifest // nil: the file did not parse
	stop chan struct{}
	done chan struct{}
}

func (p *podRun) terminate() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
}

func startKubelet(ctx context.Context, h *Host, hfs *hostFS) *kubelet {
	k := &kubelet{h: h, fs: hfs, ctx: ctx, pods: map[string]*podRun{}, starts: map[string]int{}, live: map[string][]int{}}
	k.logf("stand-in kubelet started: watching %s every %v", KubeManifestsDir, kubeletPoll)
	k.wg.Add(1)
	go k.run()
	return k
}

// wait waits until the kubelet and its pods are gone (after ctx is done).
func (k *kubelet) wait() { k.wg.Wait() }

func (k *kubelet) logf(format string, args ...any) {
	k.logMu.Lock()
	defer k.logMu.Unlock()
	f, err := k.fs.OpenAppend(kubeletLogPath)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	f.Close()
}

func (k *kubelet) startsOf(pod string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.starts[pod]
}

// pid is the newest running container process of the pod (0: none).
func (k *kubelet) pid(pod string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if pids := k.live[pod]; len(pids) > 0 {
		return pids[len(pids)-1]
	}
	return 0
}

func (k *kubelet) setLive(pod string, pid int, live bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if live {
		k.live[pod] = append(k.live[pod], pid)
		return
	}
	pids := k.live[pod][:0]
	for _, p := range k.live[pod] {
		if p != pid {
			pids = append(pids, p)
		}
	}
	k.live[pod] = pids
}

func (k *kubelet) run() {
	defer k.wg.Done()
	t := time.NewTicker(kubeletPoll)
	defer t.Stop()
	for {
		k.sync()
		select {
		case <-k.ctx.Done():
			return // the pods' workers see ctx too and kill their processes
		case <-t.C:
		}
	}
}

// sync makes the running pods match the manifest files.
func (k *kubelet) sync() {
	entries, err := k.fs.ReadDir(KubeManifestsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		k.logf("read %s: %v", KubeManifestsDir, err)
		return
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		// Kubelet reads every file but dotfiles: "kube-apiserver.yaml.bak" is a pod too.
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		file := KubeManifestsDir + "/" + name
		data, err := k.fs.ReadFile(file)
		if err != nil {
			continue // gone or not a file: like kubelet, try again next time
		}
		seen[name] = true
		sum := sha256.Sum256(data)
		prev := k.pods[name]
		if prev != nil && prev.sum == sum {
			continue
		}
		p := &podRun{file: file, sum: sum, stop: make(chan struct{}), done: make(chan struct{})}
		if prev != nil {
			k.logf("%s changed: stopping its pod", file)
			prev.terminate()
		}
		k.pods[name] = p
		pod, err := parsePod(data)
		if err != nil {
			k.logf("could not process manifest file %s, not running it: %v", file, err)
			close(p.done)
			continue
		}
		p.pod = pod
		k.logf("%s: pod %s/%s (%d bytes, sha256 %x)", file, pod.Metadata.Namespace, pod.Metadata.Name, len(data), sum[:6])
		k.wg.Add(1)
		go k.runPod(p, prev)
	}
	for name, p := range k.pods {
		if !seen[name] {
			k.logf("%s removed: stopping its pod", p.file)
			p.terminate()
			delete(k.pods, name)
		}
	}
	k.checkDuplicates()
}

// checkDuplicates logs pods defined by more than one file (once per change). Kubelet
// keeps one of them, whichever it happens to list first, which may be a stale backup;
// the stand-in runs all of them so the conflict shows (the later ones cannot bind the
// same ports and crash-loop).
func (k *kubelet) checkDuplicates() {
	files := map[string][]string{}
	for _, p := range k.pods {
		if p.pod != nil {
			full := p.pod.Metadata.Namespace + "/" + p.pod.Metadata.Name
			files[full] = append(files[full], p.file)
		}
	}
	var dups []string
	for name, fl := range files {
		if len(fl) > 1 {
			sort.Strings(fl)
			dups = append(dups, fmt.Sprintf("pod %s is defined by %s", name, strings.Join(fl, " and ")))
		}
	}
	sort.Strings(dups)
	msg := strings.Join(dups, "; ")
	if msg != k.lastDup && msg != "" {
		k.logf("WARNING duplicate pod name: %s: running all of them (kubelet would run one, not necessarily the newest)", msg)
	}
	k.lastDup = msg
}

// runPod runs p's containers until p is stopped or the kubelet ends. It starts once
// the pod it replaces (prev) is gone, as its ports and files must be free.
func (k *kubelet) runPod(p *podRun, prev *podRun) {
	defer k.wg.Done()
	defer close(p.done)
	if prev != nil {
		select {
		case <-prev.done:
		case <-k.ctx.Done():
			return
		}
	}
	for {
		err := k.prepareVolumes(p.pod)
		if err == nil {
			break
		}
		k.logf("pod %s (%s): volumes: %v", p.pod.Metadata.Name, p.file, err)
		select {
		case <-time.After(backoffMax):
		case <-p.stop:
			return
		case <-k.ctx.Done():
			return
		}
	}
	var wg sync.WaitGroup
	for i := range p.pod.Spec.Containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.runContainer(p, &p.pod.Spec.Containers[i])
		}()
	}
	wg.Wait()
}

// prepareVolumes checks and creates host paths by type, as kubelet's hostPath plugin
// does when it sets up a pod. FileOrCreate creates an empty file: an apiserver whose
// audit policy file was missing then exits on an empty policy.
func (k *kubelet) prepareVolumes(pod *podManifest) error {
	for _, v := range pod.Spec.Volumes {
		hp := v.HostPath
		if hp == nil {
			continue
		}
		fi, err := k.fs.Stat(hp.Path)
		exists := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		var ok bool
		switch hp.Type {
		case "":
			ok = true
		case "DirectoryOrCreate":
			if !exists {
				if err := k.fs.MkdirAll(hp.Path, 0o755); err != nil {
					return fmt.Errorf("volume %s: %w", v.Name, err)
				}
				k.logf("volume %s: created directory %s", v.Name, hp.Path)
				continue
			}
			ok = fi.IsDir()
		case "Directory":
			ok = exists && fi.IsDir()
		case "FileOrCreate":
			if !exists {
				// Kubelet does not create the parent of a FileOrCreate path.
				if err := k.fs.CreateEmpty(hp.Path); err != nil {
					return fmt.Errorf("volume %s: create file %s: %w", v.Name, hp.Path, err)
				}
				k.logf("volume %s: created empty file %s", v.Name, hp.Path)
				continue
			}
			ok = fi.Mode().IsRegular()
		case "File":
			ok = exists && fi.Mode().IsRegular()
		case "Socket":
			ok = exists && fi.Mode()&os.ModeSocket != 0
		case "CharDevice":
			ok = exists && fi.Mode()&os.ModeCharDevice != 0
		case "BlockDevice":
			ok = exists && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0
		}
		if !ok {
			return fmt.Errorf("volume %s: hostPath type check failed: %s is not a %s", v.Name, hp.Path, hp.Type)
		}
	}
	return nil
}

// runContainer runs one container, restarting it with a back-off when it exits, until
// the pod is stopped (SIGTERM, then SIGKILL after terminationGrace) or the kubelet ends
// (SIGKILL: the lab is stopping).
func (k *kubelet) runContainer(p *podRun, c *container) {
	pod := p.pod.Metadata.Name
	backoff := time.Duration(0)
	for restarts := 0; ; restarts++ {
		started := time.Now()
		cmd, closeLogs, err := k.startContainer(p, c, restarts)
		if err != nil {
			if errors.Is(err, errStopped) {
				return
			}
			k.logf("pod %s container %s: start: %v", pod, c.Name, err)
		} else {
			k.mu.Lock()
			k.starts[pod]++
			n := k.starts[pod]
			k.mu.Unlock()
			k.logf("pod %s container %s: started pid %d (start #%d of pod %s) from %s", pod, c.Name, cmd.Process.Pid, n, pod, p.file)
			k.setLive(pod, cmd.Process.Pid, true)
			exited := make(chan error, 1)
			go func() {
				err := cmd.Wait()
				closeLogs()
				k.setLive(pod, cmd.Process.Pid, false)
				exited <- err
			}()
			select {
			case err := <-exited:
				k.logf("pod %s container %s: pid %d exited after %v: %s", pod, c.Name, cmd.Process.Pid, time.Since(started).Round(time.Millisecond), exitText(err))
			case <-p.stop:
				k.logf("pod %s container %s: stopping pid %d (SIGTERM)", pod, c.Name, cmd.Process.Pid)
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case err := <-exited:
					k.logf("pod %s container %s: pid %d stopped: %s", pod, c.Name, cmd.Process.Pid, exitText(err))
				case <-time.After(terminationGrace):
					k.logf("pod %s container %s: pid %d still running %v after SIGTERM: SIGKILL", pod, c.Name, cmd.Process.Pid, terminationGrace)
					_ = cmd.Process.Kill()
					<-exited
				case <-k.ctx.Done():
					_ = cmd.Process.Kill()
					<-exited
				}
				return
			case <-k.ctx.Done():
				_ = cmd.Process.Kill()
				<-exited
				return
			}
		}
		if time.Since(started) >= backoffReset {
			backoff = 0
		}
		switch {
		case backoff == 0:
			backoff = backoffStart
		case backoff < backoffMax:
			backoff = min(2*backoff, backoffMax)
		}
		k.logf("pod %s container %s: back-off %v restarting failed container", pod, c.Name, backoff)
		select {
		case <-time.After(backoff):
		case <-p.stop:
			return
		case <-k.ctx.Done():
			return
		}
	}
}

// containerLogPath is where kubelet keeps a container's log of one start:
// /var/log/pods/NAMESPACE_POD_UID/CONTAINER/RESTARTS.log, the pod named after its node
// for a static pod, and a new UID for each version of the manifest.
func (k *kubelet) containerLogPath(p *podRun, c *container, restarts int) string {
	ns := p.pod.Metadata.Namespace
	if ns == "" {
		ns = "default"
	}
	return fmt.Sprintf("%s/%s_%s-%s_%x/%s/%d.log", ContainerLogDir, ns, p.pod.Metadata.Name, k.h.Name, p.sum[:16], c.Name, restarts)
}

// criWriter writes a container's output as the CRI log format has it, a line each:
// "TIME STREAM F TEXT" (F: a full line).
type criWriter struct {
	f       io.Writer
	stream  string
	mu      *sync.Mutex // one per file: stdout and stderr share it
	partial []byte
}

func (w *criWriter) Write(b []byte) (int, error) {
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		w.mu.Lock()
		_, err := fmt.Fprintf(w.f, "%s %s F %s\n", time.Now().UTC().Format(time.RFC3339Nano), w.stream, w.partial[:i])
		w.mu.Unlock()
		if err != nil {
			return 0, err
		}
		w.partial = w.partial[i+1:]
	}
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("exit code %d", ee.ExitCode())
	}
	if err != nil {
		return err.Error()
	}
	return "exit code 0"
}

// startContainer starts the container's command inside the host: no image, so the
// command is looked up in the host's PATH and reads host paths as they are. Its output
// goes to the pod's log of the stand-in and, as kubelet keeps it, to a file per start
// (containerLogPath) in the CRI log format.
func (k *kubelet) startContainer(p *podRun, c *container, restarts int) (cmd *exec.Cmd, closeLogs func(), err error) {
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(c.Command) == 0 {
		return nil, nil, errors.New("no command: the stand-in kubelet has no image to take an entrypoint from")
	}
	bin, err := k.fs.LookPath(argv[0])
	if err != nil {
		return nil, nil, err
	}
	env := append([]string{}, hostEnv...)
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			k.logf("pod %s container %s: env %s: valueFrom is not supported, left out", p.pod.Metadata.Name, c.Name, e.Name)
			continue
		}
		env = append(env, e.Name+"="+e.Value)
	}
	logf, err := k.fs.OpenAppend(KubeletLogDir + "/" + p.pod.Metadata.Name + ".log")
	if err != nil {
		return nil, nil, fmt.Errorf("open pod log: %w", err)
	}
	fmt.Fprintf(logf, "=== hostplan-lab kubelet %s: starting container %s of %s: %s\n",
		time.Now().Format(time.RFC3339Nano), c.Name, p.file, strings.Join(argv, " "))
	crif, err := k.fs.OpenAppend(k.containerLogPath(p, c, restarts))
	if err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("open container log: %w", err)
	}
	// The output is copied by this process (to two files), so the files stay open
	// until Wait has copied the last of it.
	closeLogs = func() { logf.Close(); crif.Close() }
	var mu sync.Mutex
	cmd = &exec.Cmd{Path: bin, Args: argv, Env: env, Dir: c.WorkingDir,
		Stdout: io.MultiWriter(logf, &criWriter{f: crif, stream: "stdout", mu: &mu}),
		Stderr: io.MultiWriter(logf, &criWriter{f: crif, stream: "stderr", mu: &mu})}
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	if err := k.h.startIn(cmd, false); err != nil {
		closeLogs()
		return nil, nil, err
	}
	return cmd, closeLogs, nil
}
