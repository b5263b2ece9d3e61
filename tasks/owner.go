package tasks

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/hostplan/hostplan/internal/transport"
)

// ownerIDs turns owner and group names (or numbers) into ids on this host; "" gives -1.
func (h *Host) ownerIDs(owner, group string) (uid, gid int, err error) {
	uid, gid = -1, -1
	if owner != "" {
		if uid, err = lookupID(owner, h.Facts.UserID); err != nil {
			return 0, 0, fmt.Errorf("owner: user %q does not exist on %s", owner, h.Name)
		}
	}
	if group != "" {
		if gid, err = lookupID(group, h.Facts.GroupID); err != nil {
			return 0, 0, fmt.Errorf("group: group %q does not exist on %s", group, h.Name)
		}
	}
	return uid, gid, nil
}

func lookupID(name string, byName func(string) (int, bool)) (int, error) {
	if id, ok := byName(name); ok {
		return id, nil
	}
	if id, err := strconv.Atoi(name); err == nil && id >= 0 {
		return id, nil
	}
	return 0, fmt.Errorf("unknown %q", name)
}

// ownerString prints "user:group" with names where the host knows them.
func (h *Host) ownerString(uid, gid int) string {
	u, g := "-", "-"
	if uid >= 0 {
		u = h.Facts.UserName(uid)
	}
	if gid >= 0 {
		g = h.Facts.GroupName(gid)
	}
	return u + ":" + g
}

// attrChanges lists how cur differs from the wanted mode and owner (uid/gid -1: any).
func attrChanges(h *Host, cur *transport.FileInfo, mode fs.FileMode, hasMode bool, uid, gid int) []string {
	var out []string
	if hasMode && permBits(cur.Mode) != permBits(mode) {
		out = append(out, fmt.Sprintf("mode %s -> %s", FormatMode(cur.Mode), FormatMode(mode)))
	}
	if (uid >= 0 && uid != cur.UID) || (gid >= 0 && gid != cur.GID) {
		newUID, newGID := cur.UID, cur.GID
		if uid >= 0 {
			newUID = uid
		}
		if gid >= 0 {
			newGID = gid
		}
		out = append(out, fmt.Sprintf("owner %s -> %s", h.ownerString(cur.UID, cur.GID), h.ownerString(newUID, newGID)))
	}
	return out
}

func permBits(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// setAttrs applies mode and owner to an existing path, touching only what differs.
func setAttrs(ctx context.Context, h *Host, p string, mode fs.FileMode, hasMode bool, uid, gid int) error {
	cur, err := h.Conn.Stat(ctx, p)
	if err != nil {
		return err
	}
	chowned := false
	if (uid >= 0 && uid != cur.UID) || (gid >= 0 && gid != cur.GID) {
		if err := h.Conn.Chown(ctx, p, uid, gid); err != nil {
			return err
		}
		chowned = true
	}
	// chown clears setuid/setgid bits, so mode goes second.
	if hasMode && (chowned || permBits(cur.Mode) != permBits(mode)) {
		return h.Conn.Chmod(ctx, p, mode)
	}
	return nil
}
