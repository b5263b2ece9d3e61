// Package facts gathers what plans may ask about a host (host.facts.X) in one command,
// over the connection the run already has.
package facts

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/hostplan/hostplan/internal/transport"
)

// Facts describe one host.
type Facts struct {
	OSFamily      string // "linux", "windows"
	Distro        string // os-release ID: "debian", "centos", ...; "windows"
	DistroVersion string // os-release VERSION_ID; Windows: "10.0.20348.2227"
	DistroFamily  string // "debian", "rhel", "suse", "arch", "windows" or the ID itself
	Kernel        string
	Arch          string
	Hostname      string
	User          string // the login user
	UID           int
	Systemd       bool // systemd is PID 1's init
	Firewalld     bool // firewalld answers "running"
	// firewalldUnasked: ScriptAskingNotFirewalld left firewalld's state to the caller
	// (SetFirewalld) on a host where it may run.
	firewalldUnasked bool
	// KubernetesVersion is the control plane's version on a master ("v1.32.13"): the tag
	// of the kube-apiserver image in its static pod manifest (what kubelet runs), else
	// what a kube-apiserver binary on the PATH says. Empty elsewhere.
	KubernetesVersion string

	kubeBinary string

	users, groups         map[string]int
	userNames, groupNames map[int]string // first name listed for an id
}

// Windows reports whether the host runs Windows: commands run in cmd.exe, no POSIX
// tool exists, and the firewall is netsh's. Every platform decision starts here.
func (f *Facts) Windows() bool { return f != nil && f.OSFamily == windows }

const windows = "windows"

// Script is the facts command of a POSIX host (Gather runs it; the engine runs it beside
// the host lock's first look, in one session); Parse reads its output. It prints one
// "key=value" line per fact, then the account databases. It never fails as a whole: a
// missing tool just leaves its fact empty. It starts few processes (one awk; uname on
// kernels before 6.1; id where /proc/self/status has no Uid), since on a busy bastion
// run against many hosts each one counts: the system, kernel and machine come from /proc/sys/kernel where the
// kernel has its arch file (Linux 6.1 and later), else from uname. Whether firewalld
// runs is asked only where it has run since boot (it makes /run/firewalld at start;
// systemd starts it with --nopid, so there is no pid file), and over D-Bus with
// busctl, the state firewall-cmd --state reports: firewall-cmd is a Python program,
// about 0.35 s of CPU per call, busctl about 17 ms. Without busctl, or when firewalld
// does not answer it, firewall-cmd --state says.
const Script = scriptStart + FirewalldCheck + "\n" + scriptEnd

// ScriptAskingNotFirewalld is Script for a caller that asks firewalld's state over the
// host's system bus itself, in the connection its firewall steps will use
// (firewall.FirewalldRunning): where firewalld may run, it leaves the question open
// (FirewalldUnasked) rather than start busctl, a process.
const ScriptAskingNotFirewalld = scriptStart + "if " + FirewalldMayRun + "; then echo firewalld=unasked; fi\n" + scriptEnd

// FirewalldCheck is Script's look at firewalld's state; it prints "firewalld=1" where
// firewalld runs. AskFirewalld runs it alone.
const FirewalldCheck = `if ` + FirewalldMayRun + `; then
  s=$(busctl --auto-start=no -- get-property org.fedoraproject.FirewallD1 /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1 state 2>/dev/null) || s=$(firewall-cmd --state 2>/dev/null)
  case $s in 's "RUNNING"' | running) echo firewalld=1 ;; esac
fi`

const scriptStart = `set -- '' '' ''; { read -r a < ` + archFile + ` && read -r o < /proc/sys/kernel/ostype && read -r k < /proc/sys/kernel/osrelease && set -- "$o" "$k" "$a"; } 2>/dev/null
[ -n "$3" ] || set -- $(uname -srm 2>/dev/null)
printf 'os=%s\nkernel=%s\narch=%s\n' "$1" "$2" "$3"
h=; read -r h < /proc/sys/kernel/hostname 2>/dev/null || h=$(hostname 2>/dev/null)
printf 'hostname=%s\n' "$h"
if [ -d /run/systemd/system ]; then echo systemd=1; fi
`

const scriptEnd = `if command -v kube-apiserver >/dev/null 2>&1; then printf 'kube_binary=%s\n' "$(kube-apiserver --version 2>/dev/null)"; fi
m=/etc/kubernetes/manifests/kube-apiserver.yaml; [ -r $m ] || m=
r=/etc/os-release; [ -r $r ] || r=/usr/lib/os-release
awk -v m="$m" '` + factsAwk + `' $m /proc/self/status $r /etc/passwd /etc/group 2>/dev/null
`

// FirewalldUnasked reports whether ScriptAskingNotFirewalld left firewalld's state
// open: firewalld may run, and the caller is to say whether it does (SetFirewalld).
func (f *Facts) FirewalldUnasked() bool { return f.firewalldUnasked }

// SetFirewalld answers the question FirewalldUnasked leaves.
func (f *Facts) SetFirewalld(running bool) { f.Firewalld, f.firewalldUnasked = running, false }

// AskFirewalld runs FirewalldCheck alone: whether firewalld runs, for a caller that
// could not ask over the bus itself.
func AskFirewalld(ctx context.Context, conn transport.Conn) (bool, error) {
	res, err := conn.Run(ctx, FirewalldCheck, nil)
	if err != nil {
		return false, fmt.Errorf("ask firewalld's state: %w", err)
	}
	if res.ExitCode != 0 {
		return false, fmt.Errorf("ask firewalld's state: exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return strings.TrimSpace(string(res.Stdout)) == "firewalld=1", nil
}

// FirewalldMayRun holds, in the shell, on a host where firewalld may run: it has run
// since boot and firewall-cmd is there. Script asks whether it runs only there, so
// where this fails, the facts say it does not. Shell builtins only.
const FirewalldMayRun = "[ -d /run/firewalld ] && command -v firewall-cmd >/dev/null 2>&1"

// factsAwk prints, from the files the facts' script gives it: kube_image (the
// kube-apiserver manifest's image, when the script found one to read); the sections
// os-release, passwd and group, each file as it is; then, in the section of key=value
// lines again ("--- "), id as id(1) prints it (uid=0(root) ...: awk runs as the
// script's user, so /proc/self/status holds that user's id), with the name from
// /etc/passwd. Where /etc/passwd does not hold the user (a directory service's), id
// itself says. One process for what took three (sed, id, awk).
const factsAwk = `FILENAME == m { if (!k && /^[[:space:]]*image:.*kube-apiserver/) { k = 1; sub(/^[[:space:]]*image:[[:space:]]*/, ""); print "kube_image=" $0 } next }
FILENAME == "/proc/self/status" { if ($1 == "Uid:") u = $2; next }
FNR == 1 { if (m != "" && !k) { k = 1; print "kube_image=" } n = FILENAME; sub(/.*\//, "", n); if (n != "passwd" && n != "group") n = "os-release"; print "--- " n }
n == "passwd" { split($0, f, ":"); if (f[3] == u && name == "") name = f[1] }
{ print }
END { print "--- "; if (m != "" && !k) print "kube_image="; if (u != "" && name != "") print "id=uid=" u "(" name ")"; else { printf "id="; fflush(); if (system("id 2>/dev/null") != 0) print "" } }`

// archFile is the machine uname -m prints (Linux 6.1 and later).
const archFile = "/proc/sys/kernel/arch"

// windowsScript is the facts command for a cmd.exe host: one line (cmd.exe runs only
// the first), no tool beyond cmd's own builtins. No space before "&": echo would print it.
const windowsScript = `echo hostname=%COMPUTERNAME%& echo user=%USERNAME%& echo arch=%PROCESSOR_ARCHITECTURE%& ver`

// Gather runs the facts script on the host.
func Gather(ctx context.Context, conn transport.Conn) (*Facts, error) {
	if conn.Shell() == transport.ShellCmd {
		res, err := conn.Run(ctx, windowsScript, nil)
		if err != nil {
			return nil, fmt.Errorf("gather facts: %w", err)
		}
		if res.ExitCode != 0 {
			return nil, fmt.Errorf("gather facts (cmd.exe): exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
		}
		return parseWindows(res.Stdout), nil
	}
	res, err := conn.Run(ctx, Script, nil)
	if err != nil {
		return nil, fmt.Errorf("gather facts: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("gather facts: exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return Parse(res.Stdout), nil
}

// Parse reads what Script printed.
func Parse(out []byte) *Facts {
	f := &Facts{users: map[string]int{}, groups: map[string]int{}, userNames: map[int]string{}, groupNames: map[int]string{}}
	osRelease := map[string]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "--- ") {
			section = strings.TrimPrefix(line, "--- ")
			continue
		}
		switch section {
		case "":
			k, v, _ := strings.Cut(line, "=")
			f.set(k, v)
		case "os-release":
			k, v, ok := strings.Cut(line, "=")
			if ok {
				osRelease[k] = strings.Trim(v, `"'`)
			}
		case "passwd", "group":
			fields := strings.Split(line, ":")
			if len(fields) < 3 {
				continue
			}
			id, err := strconv.Atoi(fields[2])
			if err != nil {
				continue
			}
			names, ids := f.users, f.userNames
			if section == "group" {
				names, ids = f.groups, f.groupNames
			}
			names[fields[0]] = id
			if _, ok := ids[id]; !ok {
				ids[id] = fields[0]
			}
		}
	}
	f.Distro = osRelease["ID"]
	f.DistroVersion = osRelease["VERSION_ID"]
	f.DistroFamily = family(osRelease["ID"], osRelease["ID_LIKE"])
	if f.KubernetesVersion == "" {
		f.KubernetesVersion = f.kubeBinary
	}
	return f
}

// parseWindows reads windowsScript's output (CRLF lines). `ver` prints
// "Microsoft Windows [Version 10.0.20348.2227]", translated on other systems, so the
// version is taken as the last word inside the brackets.
func parseWindows(out []byte) *Facts {
	f := &Facts{OSFamily: windows, Distro: windows, DistroFamily: windows,
		users: map[string]int{}, groups: map[string]int{}, userNames: map[int]string{}, groupNames: map[int]string{}}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if open, close := strings.Index(line, "["), strings.LastIndex(line, "]"); open >= 0 && close > open {
			if words := strings.Fields(line[open+1 : close]); len(words) > 0 {
				f.DistroVersion = words[len(words)-1]
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		switch {
		case !ok:
		case k == "hostname", k == "user":
			f.set(k, v)
		case k == "arch":
			f.Arch = strings.ToLower(v)
		}
	}
	return f
}

func (f *Facts) set(k, v string) {
	switch k {
	case "kernel":
		f.Kernel = v
	case "arch":
		f.Arch = v
	case "os":
		f.OSFamily = strings.ToLower(v)
	case "hostname":
		f.Hostname = v
	case "user":
		f.User = v
	case "id":
		// "uid=0(root) gid=0(root) groups=0(root)"
		fields := strings.Fields(v)
		if len(fields) == 0 {
			break
		}
		if uid, ok := strings.CutPrefix(fields[0], "uid="); ok {
			num, name, _ := strings.Cut(uid, "(")
			f.UID, _ = strconv.Atoi(num)
			f.User = strings.TrimSuffix(name, ")")
		}
	case "systemd":
		f.Systemd = true
	case "firewalld":
		f.Firewalld, f.firewalldUnasked = v == "1", v == "unasked"
	case "kube_image":
		f.KubernetesVersion = imageTag(v)
	case "kube_binary":
		// "Kubernetes v1.32.13"
		if fs := strings.Fields(v); len(fs) >= 2 && strings.HasPrefix(fs[1], "v") {
			f.kubeBinary = fs[1]
		}
	}
}

// imageTag returns the version tag of an image reference such as
// "registry.k8s.io/kube-apiserver:v1.32.13" or a quoted one with a digest; "" when the
// tag is not a version.
func imageTag(ref string) string {
	ref = strings.Trim(strings.TrimSpace(ref), `"'`)
	ref, _, _ = strings.Cut(ref, "@")
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ""
	}
	tag := ref[i+1:]
	if len(tag) < 2 || tag[0] != 'v' || tag[1] < '0' || tag[1] > '9' {
		return ""
	}
	return tag
}

// family maps os-release ID and ID_LIKE to the families tools care about.
func family(id, like string) string {
	for _, cand := range append([]string{id}, strings.Fields(like)...) {
		switch cand {
		case "debian", "ubuntu":
			return "debian"
		case "rhel", "fedora", "centos", "rocky", "almalinux", "ol":
			return "rhel"
		case "suse", "opensuse", "sles":
			return "suse"
		case "arch":
			return "arch"
		}
	}
	return id
}

// UserID returns the uid of a user name known to the host's /etc/passwd.
func (f *Facts) UserID(name string) (int, bool) {
	id, ok := f.users[name]
	return id, ok
}

// GroupID returns the gid of a group name known to the host's /etc/group.
func (f *Facts) GroupID(name string) (int, bool) {
	id, ok := f.groups[name]
	return id, ok
}

// UserName returns a user name for a uid, or the number as text.
func (f *Facts) UserName(uid int) string {
	if n, ok := f.userNames[uid]; ok {
		return n
	}
	return strconv.Itoa(uid)
}

// GroupName returns a group name for a gid, or the number as text.
func (f *Facts) GroupName(gid int) string {
	if n, ok := f.groupNames[gid]; ok {
		return n
	}
	return strconv.Itoa(gid)
}

// Value is the facts as the plan language sees them (host.facts).
func (f *Facts) Value() cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"os_family":      cty.StringVal(f.OSFamily),
		"distro":         cty.StringVal(f.Distro),
		"distro_version": cty.StringVal(f.DistroVersion),
		"distro_family":  cty.StringVal(f.DistroFamily),
		"kernel":         cty.StringVal(f.Kernel),
		"arch":           cty.StringVal(f.Arch),
		"hostname":       cty.StringVal(f.Hostname),
		"user":           cty.StringVal(f.User),
		"systemd":        cty.BoolVal(f.Systemd),
		"firewalld":      cty.BoolVal(f.Firewalld),
		// kubernetes_version is "" on hosts that are not masters.
		"kubernetes_version": cty.StringVal(f.KubernetesVersion),
	})
}
