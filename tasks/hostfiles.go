package tasks

// Helpers for paths and files on a host, shared by the resource types.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/hostplan/hostplan/internal/transport"
)

// revertFile puts back the file a change replaced, created or removed, but only while
// the host holds what the change made of it. A file the change never reached (its step
// failed first, e.g. because the file changed since the plan) is already as it was; one
// that someone else changed since is left alone with an error: writing the plan-time
// copy back would undo their change.
func revertFile(ctx context.Context, h *Host, fc *FileChange) error {
	cur, err := h.Conn.ReadFile(ctx, fc.Path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	switch {
	case exists == fc.NewExists && (!exists || bytes.Equal(cur, fc.New)):
		// The change's result (also when only mode or owner changed: then Old is New).
	case exists == fc.OldExists && (!exists || bytes.Equal(cur, fc.Old)):
		return nil
	default:
		return fmt.Errorf("%s changed on the host after hostplan's change; left as it is rather than overwritten with the copy from before the change", fc.Path)
	}
	if !fc.OldExists {
		if err := h.Conn.Remove(ctx, fc.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return h.Conn.WriteFile(ctx, fc.Path, fc.Old, transport.FileAttrs{Mode: fc.OldMode.Perm() | fc.OldMode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), UID: fc.OldUID, GID: fc.OldGID})
}

// checkAbsPath refuses relative remote paths: they would depend on the login directory.
func checkAbsPath(p string) error {
	if !path.IsAbs(p) {
		return &AttrError{Attr: "path", Msg: fmt.Sprintf("%q is not an absolute path", p)}
	}
	if path.Clean(p) != p {
		return &AttrError{Attr: "path", Msg: fmt.Sprintf("%q is not a clean path; write %q", p, path.Clean(p))}
	}
	return nil
}

// readFollowing reads p for a resource that edits a file through a symlink on purpose
// (transport.ReadFollowing: only links no other user could have made). real is the file
// to write back to; note, set when p is a link, says so for the plan, so that a
// reviewer sees which file really changes. A missing file is an fs.ErrNotExist error.
func readFollowing(ctx context.Context, h *Host, p string) (real, note string, data []byte, err error) {
	real, data, err = transport.ReadFollowing(ctx, h.Conn, p)
	if real != p && real != "" {
		note = linkNote(p, real)
	}
	return real, note, data, err
}

// linkNote says for the plan that a file is edited through a symlink.
func linkNote(link, target string) string {
	return fmt.Sprintf("%s is a symbolic link: hostplan edits its target %s", link, target)
}
