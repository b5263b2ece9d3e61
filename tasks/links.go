package tasks

import (
	"context"
	"fmt"
)

// followLink resolves p on the host for a resource that edits a file through a symlink
// on purpose: Debian links /etc/sysctl.d/99-sysctl.conf to ../sysctl.conf, and a
// manifest or saved ruleset may be linked by the host's own tooling. The transport
// follows only links no other user could have made (see transport.Conn); the plan says
// so in note, so that a reviewer sees which file really changes. real is the path to
// read and write.
func followLink(ctx context.Context, h *Host, p string) (real, note string, err error) {
	real, err = h.Conn.Resolve(ctx, p)
	if err != nil {
		return "", "", err
	}
	if real != p {
		note = fmt.Sprintf("%s is a symbolic link: hostplan edits its target %s", p, real)
	}
	return real, note, nil
}
