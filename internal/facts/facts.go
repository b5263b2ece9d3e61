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
	OSFamily      string // "linux"
	Distro        string // os-release ID: "debian", "centos", ...
	DistroVersion string // os-release VERSION_ID
	DistroFamily  string // "debian", "rhel", "suse", "arch" or the ID itself
	Kernel        string
	Arch          string
	Hostname      string
	User          string // the login user
	UID           int
	Systemd       bool // systemd is PID 1's init
	Firewalld     bool // firewalld answers "running"

	users, groups         map[string]int
	userNames, groupNames map[int]string // first name listed for an id
}

// script prints one "key=value" line per fact, then the account databases. It never
// fails as a whole: a missing tool just leaves its fact empty.
const script = `printf 'kernel=%s\n' "$(uname -r 2>/dev/null)"
printf 'arch=%s\n' "$(uname -m 2>/dev/null)"
printf 'os=%s\n' "$(uname -s 2>/dev/null)"
printf 'hostname=%s\n' "$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname 2>/dev/null)"
printf 'user=%s\n' "$(id -un 2>/dev/null)"
printf 'uid=%s\n' "$(id -u 2>/dev/null)"
if [ -d /run/systemd/system ]; then echo systemd=1; fi
if command -v firewall-cmd >/dev/null 2>&1 && [ "$(firewall-cmd --state 2>/dev/null)" = running ]; then echo firewalld=1; fi
echo '--- os-release'
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
echo '--- passwd'
cat /etc/passwd 2>/dev/null
echo '--- group'
cat /etc/group 2>/dev/null
`

// Gather runs the facts script on the host.
func Gather(ctx context.Context, conn transport.Conn) (*Facts, error) {
	res, err := conn.Run(ctx, script, nil)
	if err != nil {
		return nil, fmt.Errorf("gather facts: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("gather facts: exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return parse(res.Stdout), nil
}

func parse(out []byte) *Facts {
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
	case "uid":
		f.UID, _ = strconv.Atoi(v)
	case "systemd":
		f.Systemd = true
	case "firewalld":
		f.Firewalld = true
	}
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
	})
}
