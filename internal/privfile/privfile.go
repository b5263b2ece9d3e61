// Package privfile checks the local files hostplan trusts: an ssh_config (its Match
// exec lines run commands), the allowed signers of saved plans, an inventory script.
// Only this user and root may be able to change them, else another local user could
// change what hostplan runs or trusts.
package privfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"syscall"
)

// Error is a file someone other than this user and root could change.
type Error struct {
	Path string
	Why  string // as Why says it
}

func (e *Error) Error() string { return e.Path + " " + e.Why }

// Read reads path after checking the file it opened, so what is checked is what is
// read.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if why := Why(fi, false); why != "" {
		return nil, &Error{Path: path, Why: why}
	}
	return io.ReadAll(f)
}

// Why says who other than this user and root could change fi, or "" when nobody can.
// stickyOK accepts a sticky directory others can write (as /tmp): they cannot replace
// what is not theirs in it.
func Why(fi fs.FileInfo, stickyOK bool) string {
	if why := WhyOwner(fi); why != "" {
		return why
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 && !(stickyOK && fi.Mode()&fs.ModeSticky != 0) {
		return fmt.Sprintf("is writable by its group or by others (mode %04o)", perm)
	}
	return ""
}

// WhyOwner says whether fi belongs to a user other than this one and root, or "".
func WhyOwner(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Sprintf("is owned by %s, not by you (%s) or root", userName(int(st.Uid)), Me())
	}
	return ""
}

// Me names this user, for messages.
func Me() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprint(os.Geteuid())
}

func userName(uid int) string {
	if u, err := user.LookupId(fmt.Sprint(uid)); err == nil {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}
