package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FileReads is one read-only command that looks at the files planning will ask about:
// an lstat of each path and of every directory above it, and the content of each path
// to read that is a regular file in directories only root can change. Run among the
// guessed reads (in the facts' session), it spares a plan the file session (an sshd
// fork, a login shell and sftp-server on the host) when nothing else needs one.
//
// What it reports is checked again on this side by the same rule as every file
// operation (pathguard.go), and anything it cannot answer (a symlink on the way, a
// path it did not look at, a login that is not root, an unsafe or odd path) goes to
// the connection's file session as before, so its errors are those of today.
type FileReads struct {
	paths   []string // to read, clean and absolute
	Command string
}

// Look is a path a plan will stat, and read when Read is set.
type Look struct {
	Path string
	Read bool
}

// fileEnd ends each file's content in FileReads' output. It is random per hostplan
// process, not per command, so that the guessed command equals the one planning
// builds; a user on the host cannot know it when writing a file that gets read.
var fileEnd = randomToken("hostplan-file-end-")

// maxReadAhead is the largest file read ahead: a bigger one (a log a volume mounts,
// say) is read over SFTP if at all, not copied through the facts' session.
const maxReadAhead = 1 << 20

// NewFileReads prepares the command for looks; nil when there is none it can look at.
// Paths with a newline are left to the file session: each answer is one line.
func NewFileReads(looks []Look) *FileReads {
	var read, all []string
	for _, l := range looks {
		p := path.Clean(l.Path)
		if !path.IsAbs(p) || strings.ContainsAny(p, "\n\x00") {
			continue
		}
		if l.Read && !slices.Contains(read, p) {
			read = append(read, p)
		}
		for q := p; ; q = path.Dir(q) {
			all = append(all, q)
			if q == "/" {
				break
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	slices.Sort(all)
	all = slices.Compact(all)
	return &FileReads{paths: read, Command: fileReadsScript(read, all)}
}

// fileReadsScript prints "u UID" (the user it runs as), an "s UID GID MODE SIZE MTIME
// PATH" line per path that exists (stat without -L is an lstat) and an "m PATH" line
// per missing one (-h first: -e follows a link). Then, of the paths to read, those that
// are regular files of at most maxReadAhead bytes which only root can change (owned by
// root, no group or other write bit, in directories of the same kind all the way up)
// get a "c PATH" line each, and after a "d" line one cat prints them all, followed by
// "TOKEN STATUS": their sizes split its output. The shell checks them before any open,
// so a FIFO or a planted link is never opened; only root could change a file between
// its stat and the cat. The lists of trusted names are newline-separated: no name here
// has a newline, where a space could make one name look like part of another. Builtins
// but for stat and cat.
func fileReadsScript(read, all []string) string {
	var b strings.Builder
	b.WriteString(`set -f; u=; { while read -r k r e x; do [ "$k" = Uid: ] && { u=$e; break; }; done </proc/$$/status; } 2>/dev/null; printf 'u %s\n' "$u"` + "\n")
	b.WriteString("set --")
	for _, p := range all {
		b.WriteString(" " + ShellQuote(p))
	}
	b.WriteString("\n" + `s=$(stat -c 's %u %g %f %s %Y %n' -- "$@" 2>/dev/null); [ -z "$s" ] || printf '%s\n' "$s"` + "\n")
	b.WriteString(`for p; do [ -h "$p" ] || [ -e "$p" ] || printf 'm %s\n' "$p"; done` + "\n")
	b.WriteString(`[ "$u" = 0 ] || exit 0` + "\n")
	// t lists the directories, f the regular files, owned by root and not writable by
	// group or others (octal 022), each between newlines (n). 040000 is a directory's
	// type (16384), 0100000 a regular file's (32768).
	b.WriteString("n='\n'; t=$n; f=$n; IFS=$n; for l in $s; do IFS=' '; set -- $l; [ \"$2\" = 0 ] || continue; " +
		fmt.Sprintf(`case $((0x$4 & 0170022)) in 16384) t="$t${l#s * * * * * }$n";; 32768) [ "$5" -le %d ] && f="$f${l#s * * * * * }$n";; esac; done; IFS=' '`, maxReadAhead) + "\n")
	b.WriteString(`r() { for d; do case $t in *"$n$d$n"*) ;; *) return 1;; esac; done; }; set --` + "\n")
	for _, p := range read {
		q := ShellQuote(p)
		fmt.Fprintf(&b, `case $f in *"$n"%s"$n"*) if r`, q)
		for d := path.Dir(p); ; d = path.Dir(d) {
			b.WriteString(" " + ShellQuote(d))
			if d == "/" {
				break
			}
		}
		fmt.Fprintf(&b, "; then printf 'c %%s\\n' %s; set -- \"$@\" %s; fi;; esac\n", q, q)
	}
	fmt.Fprintf(&b, "[ $# = 0 ] || { echo d; cat -- \"$@\"; printf '\\n%s %%s\\n' $?; }\n", fileEnd)
	return b.String()
}

// filesView answers Stat and ReadFile from a FileReads' output, and sends the rest,
// and whatever it cannot answer, to Conn. It serves planning only: the first change
// made through it ends its answers.
type filesView struct {
	Conn
	guard *guard

	mu      sync.Mutex
	stale   bool
	infos   map[string]*FileInfo // nil: missing
	content map[string][]byte
}

// WithFiles is c answering Stat and ReadFile from fr's output, when c holds it (c ran
// fr.Command among the reads it prefetched); else c itself.
func WithFiles(c Conn, fr *FileReads) Conn {
	if fr == nil {
		return c
	}
	p, ok := c.(*prefetched)
	if !ok {
		return c
	}
	out, ok := p.take(fr.Command)
	if !ok {
		return c
	}
	v, err := parseFileReads(out, fr.paths)
	if err != nil {
		return c
	}
	v.Conn = c
	return v
}

// errNotRead: the view holds nothing about that path; the file session answers.
var errNotRead = errors.New("not read ahead")

func parseFileReads(out []byte, toRead []string) (*filesView, error) {
	v := &filesView{infos: map[string]*FileInfo{}, content: map[string][]byte{}}
	line, rest, _ := strings.Cut(string(out), "\n")
	if line != "u 0" {
		return nil, fmt.Errorf("acts as %q, not root", line)
	}
	v.guard = newGuard(0)
	var read []string
	for rest != "" {
		line, rest, _ = strings.Cut(rest, "\n")
		kind, arg, _ := strings.Cut(line, " ")
		switch {
		case kind == "s":
			p, fi, err := parseStatLine(arg)
			if err != nil {
				return nil, err
			}
			v.infos[p] = fi
		case kind == "m":
			if nameFits(arg) {
				v.infos[arg] = nil
			}
		case kind == "c" && slices.Contains(toRead, arg):
			read = append(read, arg)
		case line == "d":
			return v, v.split(rest, read)
		default:
			return nil, fmt.Errorf("unexpected line %q", line)
		}
	}
	return v, nil
}

// split shares the cat's output (data, then the end token and its status) among the
// files read, by the sizes their stat lines gave; a cat that failed or an output of
// another length (a file changed in between) keeps none of it.
func (v *filesView) split(rest string, read []string) error {
	data, after, ok := strings.Cut(rest, "\n"+fileEnd+" ")
	if !ok {
		return errors.New("content cut short")
	}
	if status, _, _ := strings.Cut(after, "\n"); status != "0" {
		return nil
	}
	var total int64
	for _, p := range read {
		fi := v.infos[p]
		if fi == nil || !fi.Mode.IsRegular() {
			return fmt.Errorf("content of %s, which is not a file it found", p)
		}
		total += fi.Size
	}
	if total != int64(len(data)) {
		return nil
	}
	for _, p := range read {
		n := v.infos[p].Size
		v.content[p], data = []byte(data[:n]), data[n:]
	}
	return nil
}

// nameFits reports whether p could name a file at all: where it could not (a
// component over 255 bytes, a path of 4,096 or more), the failed look says nothing
// about the file, and the file session gives the error.
func nameFits(p string) bool {
	if len(p) >= 4096 {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if len(c) > 255 {
			return false
		}
	}
	return true
}

// parseStatLine reads "UID GID MODE SIZE MTIME PATH" (MODE is st_mode in hex).
func parseStatLine(s string) (string, *FileInfo, error) {
	f := strings.SplitN(s, " ", 6)
	if len(f) != 6 {
		return "", nil, fmt.Errorf("unexpected stat line %q", s)
	}
	var n [5]int64
	for i := range n {
		base := 10
		if i == 2 {
			base = 16
		}
		v, err := strconv.ParseInt(f[i], base, 64)
		if err != nil {
			return "", nil, fmt.Errorf("unexpected stat line %q", s)
		}
		n[i] = v
	}
	fi := &FileInfo{UID: int(n[0]), GID: int(n[1]), Mode: modeOf(uint32(n[2])), Size: n[3], ModTime: time.Unix(n[4], 0)}
	return f[5], fi, nil
}

// modeOf converts st_mode to an fs.FileMode, as pkg/sftp does with the same bits.
func modeOf(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		mode |= fs.ModeDevice
	case 0o100000:
	default:
		mode |= fs.ModeIrregular
	}
	for bit, fm := range map[uint32]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
		if m&bit != 0 {
			mode |= fm
		}
	}
	return mode
}

// lstat implements walkFS from what was read.
func (v *filesView) lstat(p string) (*FileInfo, error) {
	fi, ok := v.infos[p]
	switch {
	case !ok:
		return nil, errNotRead
	case fi == nil:
		return nil, fs.ErrNotExist
	}
	c := *fi
	return &c, nil
}

// readlink implements walkFS: link targets were not read.
func (v *filesView) readlink(string) (string, error) { return "", errNotRead }

// answer runs fn on what was read, unless the view is stale. ok is false when the file
// session must answer instead: fn hit something not read, or failed otherwise than
// with a missing path (the file session's error says it as it always has).
func (v *filesView) answer(fn func() error) (ok bool, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stale {
		return false, nil
	}
	err = fn()
	if err == nil || errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errNotRead) {
		return true, err
	}
	return false, nil
}

// Stat implements Conn.
func (v *filesView) Stat(ctx context.Context, p string) (*FileInfo, error) {
	var fi *FileInfo
	ok, err := v.answer(func() error {
		real, err := v.guard.strictParent(v, p)
		if err != nil {
			return err
		}
		if fi, err = v.lstat(real); err == nil && fi.Mode&fs.ModeSymlink != 0 {
			return errNotRead
		}
		return err
	})
	if !ok {
		return v.Conn.Stat(ctx, p)
	}
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", p, err)
	}
	return fi, nil
}

// ReadFile implements Conn.
func (v *filesView) ReadFile(ctx context.Context, p string) ([]byte, error) {
	var data []byte
	ok, err := v.answer(func() error {
		real, err := v.guard.strictParent(v, p)
		if err != nil {
			return err
		}
		fi, err := v.lstat(real)
		if err != nil {
			return err
		}
		content, read := v.content[real]
		if !fi.Mode.IsRegular() || !read || int64(len(content)) != fi.Size {
			return errNotRead
		}
		data = bytes.Clone(content)
		return nil
	})
	if !ok {
		return v.Conn.ReadFile(ctx, p)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return data, nil
}

// DialUnix implements Conn: the socket's path looked at as Stat does, so that a path
// read ahead costs no file session.
func (v *filesView) DialUnix(ctx context.Context, p string) (net.Conn, error) {
	c, ok := connBelow(v.Conn)
	if !ok {
		return v.Conn.DialUnix(ctx, p)
	}
	return c.dialSocket(ctx, p, v.Stat)
}

// below is the connection v answers for (see runKept).
func (v *filesView) below() Conn { return v.Conn }

// spoil ends the view's answers: what it read may no longer be so.
func (v *filesView) spoil() {
	v.mu.Lock()
	v.stale = true
	v.mu.Unlock()
}

// WriteFile implements Conn.
func (v *filesView) WriteFile(ctx context.Context, p string, data []byte, attrs FileAttrs) error {
	v.spoil()
	return v.Conn.WriteFile(ctx, p, data, attrs)
}

// WriteKernel implements Conn.
func (v *filesView) WriteKernel(ctx context.Context, p string, data []byte) error {
	v.spoil()
	return v.Conn.WriteKernel(ctx, p, data)
}

// Mkdir implements Conn.
func (v *filesView) Mkdir(ctx context.Context, p string, attrs FileAttrs) error {
	v.spoil()
	return v.Conn.Mkdir(ctx, p, attrs)
}

// Chmod implements Conn.
func (v *filesView) Chmod(ctx context.Context, p string, mode fs.FileMode) error {
	v.spoil()
	return v.Conn.Chmod(ctx, p, mode)
}

// Chown implements Conn.
func (v *filesView) Chown(ctx context.Context, p string, uid, gid int) error {
	v.spoil()
	return v.Conn.Chown(ctx, p, uid, gid)
}

// SetModTime implements Conn.
func (v *filesView) SetModTime(ctx context.Context, p string, t time.Time) error {
	v.spoil()
	return v.Conn.SetModTime(ctx, p, t)
}

// Remove implements Conn.
func (v *filesView) Remove(ctx context.Context, p string) error {
	v.spoil()
	return v.Conn.Remove(ctx, p)
}
