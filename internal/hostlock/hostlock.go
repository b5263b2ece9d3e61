// Package hostlock keeps two hostplan applies from changing one host at the same time.
//
// The lock is a regular file in a private directory on the host (/run/hostplan, mode
// 0700, for root; ~/.hostplan for a login without become), holding who took it. Only
// the user hostplan acts as (or root) can create entries there, so no other local user
// can plant a directory, symlink or FIFO where the lock goes: before it takes the lock,
// hostplan checks that the directory and every directory above it belong to root or
// that user and that no one else may write to them, and refuses otherwise.
//
// Every step that decides from what it finds runs under flock(1) on that directory:
// two applies never both replace one stale lock, and a lock is removed only while it
// holds its owner's content. Taking a free lock needs no flock: the shell creates the
// file with O_CREAT|O_EXCL (noclobber), which only one of several applies can win,
// mode 0600 from its first moment (umask 077), and writes its one line at once (the
// flock and a link(2) from a temp file were two process starts per host). A try that
// finds the lock empty found it in that instant, or left so by a run killed in it: a
// lock held by no one known, stale after the lease like any unreadable lock.
//
// Its holder refreshes the file's mtime while it runs, so a lock whose holder died
// (killed bastion, lost network) is recognised as stale once the lease has passed
// without a refresh, or at once when the holder was a process on this same machine that
// no longer exists.
package hostlock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hostplan/hostplan/internal/transport"
)

// DefaultPath is root's lock: /run is a tmpfs on systemd hosts, so a reboot (which ends
// any apply) also clears the lock, and only root can create entries in it. A login that
// does not become root locks in ~/.hostplan/lock instead: it cannot write to /run.
const DefaultPath = "/run/hostplan/lock"

// userLock is the lock of a non-root acting user, under its home directory.
const userLock = ".hostplan/lock"

const (
	// commandTimeout bounds one lock command on top of its flock wait: a host that stops
	// answering must not hold Acquire or Release forever.
	commandTimeout = 30 * time.Second
	// releaseTimeout bounds Release, which runs even when the run's context has ended.
	releaseTimeout = 30 * time.Second
	// maxGuardWait caps one wait for the lock directory's flock. Its holders keep it
	// for milliseconds; a longer wait means something else holds it, and Acquire looks
	// again after a pause until its deadline.
	maxGuardWait = 10 * time.Second
	// thenTimeout bounds AcquireLooked's then, on top of a try's own bound: reads of a
	// large ruleset on a busy host take seconds, and a try cut short leaves its lock.
	thenTimeout = 2 * time.Minute
	// minGuardWait lets an Acquire without a wait (--lock-timeout 0) still get past
	// another apply's millisecond-long look at the lock.
	minGuardWait = time.Second
)

// Holder says who holds a lock.
type Holder struct {
	Operator string    `json:"operator"` // user@machine
	Machine  string    `json:"machine"`  // the machine hostplan runs on
	PID      int       `json:"pid"`
	Run      string    `json:"run"`
	Since    time.Time `json:"since"`
}

func (h Holder) String() string {
	if h.Operator == "" {
		// An empty or unreadable lock file: one another try is making, or left so.
		return "an unknown holder (the lock file names none)"
	}
	return fmt.Sprintf("%s (pid %d on %s, since %s)", h.Operator, h.PID, h.Machine, h.Since.Local().Format("2006-01-02 15:04:05"))
}

// Options tune Acquire.
type Options struct {
	// Path is the lock file (absolute, in a directory other than /). Default:
	// DefaultPath when hostplan acts as root on the host, else ~/.hostplan/lock of the
	// user it acts as. Its directory is made (0700) when missing.
	Path string
	// Wait is how long to wait for a lock someone else holds (0: fail at once).
	Wait time.Duration
	// Lease is how long a lock may go without a refresh before it counts as stale
	// (default 2m); the holder refreshes it every Lease/4.
	Lease time.Duration
	// Poll is how long a waiting Acquire pauses before it looks again (default 1s).
	Poll time.Duration
}

func (o *Options) defaults() {
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
}

func (o *Options) check() error {
	if o.Path != "" && (!path.IsAbs(o.Path) || path.Clean(o.Path) != o.Path || path.Dir(o.Path) == "/") {
		return fmt.Errorf("lock path %q: want an absolute, clean path in a directory other than /", o.Path)
	}
	return nil
}

// HeldError is returned when another holder keeps the lock past Options.Wait.
type HeldError struct {
	Host, Path string
	By         Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is locked by %s: another hostplan apply is changing it (lock file %s). Wait for it with --lock-timeout, or remove the file if you are sure that run is gone",
		e.Host, e.By, e.Path)
}

// UnsafeError is returned when the lock, its directory or a directory above it is
// something hostplan did not make or others could change: hostplan refuses to lock
// (and so to apply) rather than trust it.
type UnsafeError struct {
	Host    string
	Path    string // the lock file
	Entry   string // what is wrong: the lock, its directory or a parent
	Problem string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("%s: refusing to lock the host at %s: %s: %s. Only root or the user hostplan acts as may be able to change the lock and the directories above it; fix or remove %s by hand",
		e.Host, e.Path, e.Entry, e.Problem, e.Entry)
}

// Lock is a held lock; Release it when done.
type Lock struct {
	conn    transport.Conn
	host    string
	uid     int    // the user hostplan acts as on the host
	dir     string // the lock's directory, with no symlink in it
	path    string
	runID   string
	content string
	// TookOver is set when a stale lock was replaced, naming its holder.
	TookOver *Holder
	// First is set when First's try took the lock.
	First bool
	// then is AcquireLooked's reads, thenOut what their script printed.
	then    *transport.Sections
	thenOut string

	// made is this machine's time just before the command that made the lock, and born
	// the lock's first mtime (read at the first refresh): touchFile's clock.
	made time.Time
	born time.Time
	// byCommand is set once touchFile failed: the refresh runs a command from then on.
	byCommand bool
	// lost is set once a refresh found the lock no longer ours (Lost).
	lost atomic.Bool
	// lease is Options.Lease, and touched this machine's time before the command or
	// file request that last made or refreshed the lock.
	lease   time.Duration
	touched time.Time

	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
	once     sync.Once
}

// Acquire takes the lock on the host behind conn for holder. It waits at most
// o.Wait for another holder, looking again every o.Poll.
func Acquire(ctx context.Context, conn transport.Conn, host string, holder Holder, o Options) (*Lock, error) {
	return AcquireLooked(ctx, conn, host, holder, o, nil, nil)
}

// First is Acquire's first step on the host, for a caller that runs Command in one
// session with other reads (transport.RunSections), sets Out and Start, and passes it
// to TakeFirst: a first apply on a host then costs one session for its facts, its
// lock and its reads, not four (look, make the directory, look again, try). Command
// looks at the lock as Acquire does, and only where that look passes check's rules
// (the same rules, in shell: firstGate) it makes the directory when missing and tries
// the lock once, running then once it holds it. Whatever else it finds (a lock held, a
// busy directory, an unsafe one) is left for AcquireLooked, which looks again.
type First struct {
	Command string
	// Out is what Command printed, and Start when the session that ran it started.
	Out   transport.Section
	Start time.Time

	o       Options
	holder  Holder
	content string // the lock Command makes
	// marker ends the look in Out; the try's output follows it. It is random, so no
	// name the look prints can end the look early.
	marker string
	taken  bool // TakeFirst returned its lock
}

// NewFirst prepares the first step of an Acquire for holder.
func NewFirst(o Options, holder Holder, then *transport.Sections) (*First, error) {
	o.defaults()
	if err := o.check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(holder)
	if err != nil {
		return nil, err
	}
	l := &Lock{content: string(b), then: then}
	f := &First{o: o, holder: holder, content: l.content, marker: randomMarker()}
	wait := min(max(o.Wait, minGuardWait), maxGuardWait)
	f.Command = lookBody(o.Path) + "\necho " + f.marker + "\n" + firstGate + "\n" + l.tryScript(nil, wait)
	return f, nil
}

// randomMarker is a line no host can guess.
func randomMarker() string { return "hostplan-lock-try-" + randomHex() }

// oldTempPrefix starts the names of the temp files earlier versions made their locks
// from; a try under the flock removes any it finds.
const oldTempPrefix = ".hostplan-tmp."

func randomHex() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// split returns the look First's command printed, and the first line of its try with
// what followed it ("" when the command ended before the try, or failed).
func (f *First) split() (look *transport.Section, tried, rest string) {
	if f.Out.Code != 0 {
		return nil, "", ""
	}
	before, after, _ := strings.Cut(f.Out.Out, "\n"+f.marker+"\n")
	tried, rest, _ = strings.Cut(after, "\n")
	return &transport.Section{Out: before + "\n"}, tried, rest
}

// TakeFirst returns the lock First's try took, once the look it took it on passes check
// here too (firstGate is check in shell; were they ever to disagree, the lock is
// removed again and check's error returned). It returns nil when the try did not take
// the lock: AcquireLooked goes on from First's look. Its Lock.ThenOutput is First's
// then.
func TakeFirst(ctx context.Context, conn transport.Conn, host string, f *First) (*Lock, error) {
	look, tried, rest := f.split()
	if tried != "acquired" || f.taken {
		return nil, nil
	}
	l := &Lock{conn: conn, host: host, runID: f.holder.Run, content: f.content, stop: make(chan struct{})}
	loc, err := parseLook(look.Out)
	if err != nil {
		return nil, fmt.Errorf("lock on %s: %w", host, err)
	}
	l.uid, l.path, l.dir = loc.uid, loc.path, path.Dir(loc.path)
	if uerr := loc.check(); uerr != nil {
		uerr.Host = host
		if _, err := l.ifOurs(ctx, maxGuardWait, removal); err != nil {
			return nil, errors.Join(uerr, fmt.Errorf("remove the lock taken before this check: %w", err))
		}
		return nil, uerr
	}
	f.taken = true
	l.First = true
	l.made, l.touched, l.thenOut = f.Start, f.Start, rest
	return l.held(f.holder, f.o), nil
}

// Abandon removes the lock First's command may have taken when its output was lost (its
// session failed, timed out or was interrupted): it looks again and, where the look
// passes check, removes the lock if it holds First's content. It works after ctx has
// ended, bounded by releaseTimeout; a lock it cannot remove goes stale after its lease.
func (f *First) Abandon(ctx context.Context, conn transport.Conn, host string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	l := &Lock{conn: conn, host: host, content: f.content}
	loc, err := l.look(ctx, f.o.Path)
	if err != nil {
		return fmt.Errorf("lock on %s: %w", host, err)
	}
	l.uid, l.path, l.dir = loc.uid, loc.path, path.Dir(loc.path)
	if _, made := loc.entries[l.dir]; !made {
		return nil
	}
	if uerr := loc.check(); uerr != nil {
		uerr.Host = host
		return uerr
	}
	_, err = l.ifOurs(ctx, maxGuardWait, removal)
	return err
}

// firstGate is check in shell, on the look's variables: uid, the lock directory d
// and its stat line (if any), and the stat lines s of every directory above it, which
// must number n. Where any rule fails, or a line is not what stat prints, it prints
// "skipped" and ends the command before anything is made or tried. A missing lock
// directory is made (0700) and checked as the lock's directory; l is set to the lock.
// A directory this mkdir made needs no stat (a process per host on a first apply):
// it is the acting user's, mode 0700 (41c0: directory, rwx------), and the parents
// just checked let no one else replace it.
const firstGate = `skip() { echo skipped; exit 0; }
hexok() { case $1 in ''|*[!0-9a-f]*) return 1 ;; esac; }
okp() { hexok "$2" && m=$((0x$2)) && [ $((m & 61440)) = 16384 ] && { [ "$1" = 0 ] || [ "$1" = "$uid" ]; } && [ $((m & 18)) = 0 ]; }
okd() { hexok "$2" && m=$((0x$2)) && [ $((m & 61440)) = 16384 ] && [ "$1" = "$uid" ] && [ $((m & 63)) = 0 ]; }
a=0 dl=
while read -r u f x; do
  [ -n "$u$f$x" ] || continue
  if [ "$x" = "$d" ]; then dl="$u $f"; else okp "$u" "$f" || skip; a=$((a + 1)); fi
done <<hostplan-stat-lines
$s
hostplan-stat-lines
[ "$a" = "$n" ] || skip
if [ -z "$dl" ]; then
  if mkdir -m 0700 -- "$d" 2>/dev/null; then dl="$uid 41c0"
  else dl=$(stat -c '%u %f' -- "$d" 2>/dev/null) || skip
  fi
fi
okd $dl || skip
l=$d/${p##*/}`

// AcquireLooked is Acquire with its First step done (nil: look now), for the same
// holder and options: it takes the lock First's try took (TakeFirst), or goes on as
// Acquire from First's look (a look that failed is done again, for its error). then,
// when not nil, are read-only commands run in the session that takes the lock, right
// after it did and outside the lock directory's flock, for a caller that reads the
// host once it holds the lock: one SSH session less per host. Their script's standard
// output is Lock.ThenOutput: First's then when Lock.First is set, else this one.
func AcquireLooked(ctx context.Context, conn transport.Conn, host string, holder Holder, o Options, first *First, then *transport.Sections) (*Lock, error) {
	o.defaults()
	if err := o.check(); err != nil {
		return nil, err
	}
	if conn.Shell() == transport.ShellCmd {
		return nil, fmt.Errorf("lock %s: host locks need a POSIX shell, and %s runs cmd.exe", host, host)
	}
	b, err := json.Marshal(holder)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(o.Wait)
	l := &Lock{conn: conn, host: host, runID: holder.Run, content: string(b), then: then, stop: make(chan struct{})}
	var looked *transport.Section
	if first != nil {
		if first.content != l.content {
			return nil, fmt.Errorf("lock %s: the first step was made for another holder", host)
		}
		if taken, err := TakeFirst(ctx, conn, host, first); taken != nil || err != nil {
			return taken, err
		}
		looked, _, _ = first.split()
	}
	if err := l.locate(ctx, o.Path, looked); err != nil {
		return nil, err
	}
	if err := l.wait(ctx, o, deadline); err != nil {
		return nil, err
	}
	return l.held(holder, o), nil
}

// held starts the refreshes of a lock just taken.
func (l *Lock) held(holder Holder, o Options) *Lock {
	trackRun(holder.Run, 1)
	l.lease = o.Lease
	l.refresh(o.Lease / 4)
	return l
}

// wait tries until it holds the lock or the deadline passes, pausing o.Poll between
// tries: a lock that can never be had (someone else's) costs one look per poll.
func (l *Lock) wait(ctx context.Context, o Options, deadline time.Time) error {
	for {
		st, err := l.attempt(ctx, o.Lease, deadline)
		if err != nil || st.acquired {
			return err
		}
		if !time.Now().Before(deadline) {
			return l.failure(st)
		}
		if err := pause(ctx, min(o.Poll, time.Until(deadline))); err != nil {
			return fmt.Errorf("lock %s on %s: %w", l.path, l.host, err)
		}
	}
}

// pause waits d unless ctx ends first.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempt looks once, and when the lock it finds is stale, replaces exactly that lock
// at once (a takeover needs no wait).
func (l *Lock) attempt(ctx context.Context, lease time.Duration, deadline time.Time) (tryState, error) {
	st, err := l.try(ctx, nil, deadline)
	if err != nil || !st.held {
		return st, err
	}
	other, perr := parseHolder(st.content)
	if !stale(other, perr, st.age, lease) {
		return st, nil
	}
	next, err := l.try(ctx, &st.content, deadline)
	if err == nil && next.replaced {
		l.TookOver = &other
	}
	return next, err
}

// failure is Acquire's error once the deadline passed without the lock.
func (l *Lock) failure(st tryState) error {
	if st.held {
		other, _ := parseHolder(st.content)
		return &HeldError{Host: l.host, Path: l.path, By: other}
	}
	return fmt.Errorf("lock %s on %s: another process kept its directory busy (flock) past the lock timeout", l.path, l.host)
}

// located is what the host says about where the lock goes.
type located struct {
	uid     int
	path    string           // the lock file, its directory resolved (no symlinks)
	entries map[string]entry // the lock's directory and every directory above it
}

// locate finds the lock's path for the user hostplan acts as, checks that only root
// or that user can change its directory and every directory above it, and makes the
// directory (0700) when it is missing. looked, when set, is the first look's result.
func (l *Lock) locate(ctx context.Context, want string, looked *transport.Section) error {
	for made := false; ; made = true {
		var loc located
		var err error
		if looked != nil {
			loc, err = parseLook(looked.Out)
			looked = nil
		} else {
			loc, err = l.look(ctx, want)
		}
		if err != nil {
			return fmt.Errorf("lock on %s: %w", l.host, err)
		}
		l.uid, l.path, l.dir = loc.uid, loc.path, path.Dir(loc.path)
		if err := loc.check(); err != nil {
			err.Host = l.host
			return err
		}
		if _, exists := loc.entries[l.dir]; exists {
			return nil
		}
		if made {
			return fmt.Errorf("lock on %s: %s vanished after it was made", l.host, l.dir)
		}
		// Another apply may make it first: whatever is there then is checked again.
		q := transport.ShellQuote(l.dir)
		if _, err := l.run(ctx, fmt.Sprintf("mkdir -m 0700 -- %[1]s || [ -e %[1]s ] || [ -h %[1]s ]", q), 0); err != nil {
			return fmt.Errorf("lock on %s: make %s: %w", l.host, l.dir, err)
		}
	}
}

// look reports the acting user, the lock's path with its directory's parent resolved,
// and stat lines (uid, raw mode in hex, name; never following a symlink) for the
// directory and each directory above it. It changes nothing.
func (l *Lock) look(ctx context.Context, want string) (located, error) {
	out, err := l.run(ctx, lookScript(want), 0)
	if err != nil {
		return located{}, err
	}
	return parseLook(out)
}

// lookScript is look's command for the lock path want ("": the default).
func lookScript(want string) string {
	return lookBody(want) + "\nexit 0"
}

// lookBody prints what look reports, leaving in shell variables what First.Command
// goes on with: uid, the wanted path p, the lock's directory d, the stat lines s of d
// and of the directories above it, and their number n (d not counted).
func lookBody(want string) string {
	return fmt.Sprintf(`uid=; { while read -r k r e x; do [ "$k" = Uid: ] && { uid=$e; break; }; done </proc/$$/status; } 2>/dev/null
[ -n "$uid" ] || uid=$(id -u) || exit 3
p=%[1]s
if [ -z "$p" ]; then
  if [ "$uid" = 0 ]; then p=%[2]s
  else
    h=$(getent passwd "$uid" | cut -d: -f6)
    case $h in /*) p=${h%%/}/%[3]s ;; *) echo "uid $uid has no home directory to keep its lock in" >&2; exit 3 ;; esac
  fi
fi
d=${p%%/*} o=$PWD
cd -P -- "${d%%/*}/" || exit 3
top=$PWD
cd -- "$o" 2>/dev/null || cd /
d=${top%%/}/${d##*/}
case $d in *'
'*) echo "the lock's directory has a newline in its name" >&2; exit 3 ;; esac
echo "$uid"
echo "$d/${p##*/}"
set -- "$d"
x=$top
while :; do set -- "$x" "$@"; [ "$x" = / ] && break; x=${x%%/*}; x=${x:-/}; done
n=$(($# - 1))
s=$(stat -c '%%u %%f %%n' -- "$@" 2>/dev/null)
[ -z "$s" ] || printf '%%s\n' "$s"`, transport.ShellQuote(want), DefaultPath, userLock)
}

// parseLook reads look's output.
func parseLook(out string) (located, error) {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 3 {
		return located{}, fmt.Errorf("unexpected output %q", out)
	}
	loc := located{path: lines[1], entries: map[string]entry{}}
	var err error
	if loc.uid, err = strconv.Atoi(lines[0]); err != nil || !path.IsAbs(loc.path) {
		return located{}, fmt.Errorf("unexpected output %q", out)
	}
	// Only the lock's directory and those above it, once each: a name that printed a
	// line of its own is refused, not read as another directory.
	want := map[string]bool{path.Dir(loc.path): true}
	for _, a := range ancestors(path.Dir(path.Dir(loc.path))) {
		want[a] = true
	}
	for _, line := range lines[2:] {
		e, err := parseEntry(line)
		if err != nil {
			return located{}, err
		}
		if _, dup := loc.entries[e.name]; dup || !want[e.name] {
			return located{}, fmt.Errorf("unexpected stat output %q", line)
		}
		loc.entries[e.name] = e
	}
	return loc, nil
}

// check refuses a lock directory, or a directory above it, that anyone but root or
// the acting user could change: a planted name there could jam or spoof the lock.
// The lock's directory must also be private (group and others may not even list or
// open it: an open directory is enough to hold its flock).
func (loc located) check() *UnsafeError {
	dir := path.Dir(loc.path)
	for _, p := range ancestors(path.Dir(dir)) {
		e, ok := loc.entries[p]
		if !ok {
			return &UnsafeError{Path: loc.path, Entry: p, Problem: "missing (or not readable)"}
		}
		if problem := e.unsafeParent(loc.uid); problem != "" {
			return &UnsafeError{Path: loc.path, Entry: p, Problem: problem}
		}
	}
	if e, ok := loc.entries[dir]; ok {
		if problem := e.unsafeDir(loc.uid); problem != "" {
			return &UnsafeError{Path: loc.path, Entry: dir, Problem: problem}
		}
	}
	return nil
}

// ancestors lists p and every directory above it, from / down.
func ancestors(p string) []string {
	if p == "/" {
		return []string{"/"}
	}
	return append(ancestors(path.Dir(p)), p)
}

// entry is one stat line from the host.
type entry struct {
	uid  int
	mode uint32 // st_mode: file type and permission bits
	name string
}

func parseEntry(line string) (entry, error) {
	f := strings.SplitN(line, " ", 3)
	if len(f) != 3 {
		return entry{}, fmt.Errorf("unexpected stat output %q", line)
	}
	uid, err := strconv.Atoi(f[0])
	if err != nil {
		return entry{}, fmt.Errorf("unexpected stat output %q", line)
	}
	mode, err := strconv.ParseUint(f[1], 16, 32)
	if err != nil {
		return entry{}, fmt.Errorf("unexpected stat output %q", line)
	}
	return entry{uid: uid, mode: uint32(mode), name: f[2]}, nil
}

// File types in st_mode.
const (
	typeMask = 0o170000
	typeDir  = 0o040000
	typeReg  = 0o100000
)

var typeNames = map[uint32]string{
	0o010000: "a fifo", 0o020000: "a character device", typeDir: "a directory", 0o060000: "a block device",
	typeReg: "a regular file", 0o120000: "a symbolic link", 0o140000: "a socket",
}

func (e entry) typeName() string {
	if n, ok := typeNames[e.mode&typeMask]; ok {
		return n
	}
	return fmt.Sprintf("of unknown type (mode %o)", e.mode)
}

func (e entry) perm() uint32 { return e.mode & 0o7777 }

// unsafeParent says why a directory above the lock's would let someone else replace
// what is below it ("" when it does not).
func (e entry) unsafeParent(uid int) string {
	switch {
	case e.mode&typeMask != typeDir:
		return e.typeName() + ", not a directory"
	case e.uid != 0 && e.uid != uid:
		return fmt.Sprintf("owned by uid %d, not by root or uid %d (the user hostplan acts as)", e.uid, uid)
	case e.perm()&0o022 != 0:
		return fmt.Sprintf("mode %04o lets group or others create and remove names in it", e.perm())
	}
	return ""
}

// unsafeDir says why the lock's own directory is not private to the acting user.
func (e entry) unsafeDir(uid int) string {
	switch {
	case e.mode&typeMask != typeDir:
		return e.typeName() + ", not a directory"
	case e.uid != uid:
		return fmt.Sprintf("owned by uid %d, not by uid %d (the user hostplan acts as)", e.uid, uid)
	case e.perm()&0o077 != 0:
		return fmt.Sprintf("mode %04o lets group or others in (the lock directory must be 0700)", e.perm())
	}
	return ""
}

type tryState struct {
	acquired bool
	replaced bool          // acquired by replacing the stale lock named by try's replace
	held     bool          // someone holds it; else the directory stayed busy
	content  string        // the holder's, when held
	age      time.Duration // since the holder's last refresh
}

// try runs one look at the lock under the directory's flock: it creates the lock when
// there is none, or reads the one there with its owner, type and age. With replace
// set, a lock holding exactly *replace (a stale one) is removed first, so of several
// applies that found the same stale lock only one takes it over.
func (l *Lock) try(ctx context.Context, replace *string, deadline time.Time) (tryState, error) {
	wait := min(max(time.Until(deadline), minGuardWait), maxGuardWait)
	start := time.Now()
	bound := wait
	if l.then != nil {
		bound += thenTimeout
	}
	out, err := l.run(ctx, l.vars()+l.tryScript(replace, wait), bound)
	if err != nil {
		return tryState{}, fmt.Errorf("lock %s on %s: %w", l.path, l.host, err)
	}
	first, rest, _ := strings.Cut(out, "\n")
	switch {
	case first == "acquired" || first == "acquired stale":
		l.made, l.touched, l.thenOut = start, start, rest
		return tryState{acquired: true, replaced: first == "acquired stale"}, nil
	case first == "busy":
		return tryState{}, nil
	case strings.HasPrefix(first, "found "):
		return l.found(first, rest)
	}
	return tryState{}, fmt.Errorf("lock %s on %s: unexpected output %q", l.path, l.host, out)
}

// tryScript is try's command, for a script that set $d and $l. A free lock is made at
// once (makeLock); the rest runs under the directory's flock, waited for at most
// wait: the take-over of exactly the stale lock *replace (its removal and the new
// lock's making, with no other try between), the look at a lock found there (stat
// only then: a process per try costs every host of a run; should the lock go between
// a failed making and the look, as a release over the file session may, the try makes
// it again, a few times), and the removal of temp files earlier hostplan versions
// made locks from, when a try of theirs was killed.
// The lock holder's then runs after the flock is let go.
func (l *Lock) tryScript(replace *string, wait time.Duration) string {
	takeover, r, free := "no", "", `makelock && got=acquired`
	if replace != nil {
		takeover, r, free = "yes", *replace, ":"
	}
	slow := fmt.Sprintf(`for t in "$d"/%[1]s*; do [ -e "$t" ] && rm -f -- "$t"; done
took=
if [ %[2]s = yes ] && [ -f "$l" ] && [ ! -h "$l" ] && [ "$(cat -- "$l")" = %[3]s ]; then rm -f -- "$l" || exit 3; took=' stale'; fi
n=0
until makelock; do
  if { [ -e "$l" ] || [ -h "$l" ]; } && s=$(stat -c '%%u %%f %%Y' -- "$l" 2>/dev/null); then
    echo "found $(date +%%s) $s"
    if [ -f "$l" ] && [ ! -h "$l" ]; then cat -- "$l"; fi
    exit 0
  fi
  n=$((n + 1)); [ "$n" -lt 3 ] || { echo busy; exit 0; }
done
got="acquired$took"
exec 9<&-`, oldTempPrefix, takeover, transport.ShellQuote(r))
	return makeLock(l.content) + "\ngot=\n" + free + "\nif [ -z \"$got\" ]; then\n" + guardedBody(wait, slow) +
		"\nfi\necho \"$got\"\n" + l.thenCommand() + "\nexit 0"
}

// makeLock defines makelock, which makes the lock $l holding content when no name is
// there, and fails otherwise. The shell makes the file (noclobber, umask 077: a new
// file with O_CREAT|O_EXCL and mode 0600, as mktemp makes one), not a program, which
// would cost a process start. In a directory only the acting user can write to
// (checked before), only that user or root could have put a name there; the tests
// before it keep noclobber's other case (an existing FIFO or device, which it opens
// and writes through) from coming up even then. The umask goes back (read from /proc,
// a builtin loop) before then's reads, which run in this shell.
func makeLock(content string) string {
	return fmt.Sprintf(`um=
{ while read -r k v x; do [ "$k" = Umask: ] && { um=$v; break; }; done </proc/$$/status; } 2>/dev/null
makelock() {
  umask 077; set -C
  [ ! -e "$l" ] && [ ! -h "$l" ] && { printf '%%s\n' %s >"$l"; } 2>/dev/null
  r=$?; set +C; [ -z "$um" ] || umask "$um"; return "$r"
}`, transport.ShellQuote(content))
}

// thenCommand is then's script. It needs no subshell of its own (a fork per host):
// each of its commands runs in one, and nothing else in it exits the try.
func (l *Lock) thenCommand() string {
	if l.then == nil {
		return ":"
	}
	return l.then.Script()
}

// ThenOutput is what the script of AcquireLooked's then printed (then.Parse reads it).
func (l *Lock) ThenOutput() string { return l.thenOut }

// found reads "found NOW UID MODE MTIME" and the content after it. Anything but a
// regular file owned by the acting user is not a lock hostplan made: it is refused,
// not waited for.
func (l *Lock) found(first, rest string) (tryState, error) {
	var now, mtime int64
	var e entry
	var mode string
	if _, err := fmt.Sscanf(first, "found %d %d %s %d", &now, &e.uid, &mode, &mtime); err != nil {
		return tryState{}, fmt.Errorf("lock %s on %s: unexpected output %q", l.path, l.host, first)
	}
	m, err := strconv.ParseUint(mode, 16, 32)
	if err != nil {
		return tryState{}, fmt.Errorf("lock %s on %s: unexpected output %q", l.path, l.host, first)
	}
	e.mode = uint32(m)
	if e.mode&typeMask != typeReg {
		return tryState{}, &UnsafeError{Host: l.host, Path: l.path, Entry: l.path, Problem: e.typeName() + ", not a lock file hostplan made"}
	}
	if e.uid != l.uid {
		return tryState{}, &UnsafeError{Host: l.host, Path: l.path, Entry: l.path, Problem: fmt.Sprintf("owned by uid %d, not by uid %d (the user hostplan acts as)", e.uid, l.uid)}
	}
	// As $(cat) in the scripts, which compare it, the content ends at its last newline.
	return tryState{held: true, content: strings.TrimRight(rest, "\n"), age: time.Duration(now-mtime) * time.Second}, nil
}

// guarded wraps body in the lock directory's flock, waited for at most wait. The body
// sees the directory as $d and the lock as $l. A flock that times out prints "busy".
func (l *Lock) guarded(wait time.Duration, body string) string {
	return l.vars() + guardedBody(wait, body)
}

// vars sets $d and $l for a script of the lock's.
func (l *Lock) vars() string {
	return fmt.Sprintf("d=%s l=%s\n", transport.ShellQuote(l.dir), transport.ShellQuote(l.path))
}

// guardedBody is guarded for a script that set $d and $l itself.
func guardedBody(wait time.Duration, body string) string {
	return fmt.Sprintf(`exec 9<"$d" || exit 3
flock -w %[1]s 9 || { r=$?; [ "$r" = 1 ] && { echo busy; exit 0; }; echo "flock failed (exit $r): host locks need flock(1), from util-linux" >&2; exit 3; }
%[2]s`, strconv.FormatFloat(wait.Seconds(), 'f', 1, 64), body)
}

// run runs a lock command, bounded by commandTimeout on top of wait (the flock wait
// inside it). A non-zero exit is an error.
func (l *Lock) run(ctx context.Context, script string, wait time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait+commandTimeout)
	defer cancel()
	res, err := l.conn.Run(ctx, script, nil)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("exit %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return string(res.Stdout), nil
}

func parseHolder(content string) (Holder, error) {
	var h Holder
	err := json.Unmarshal([]byte(content), &h)
	return h, err
}

// liveRuns counts the locks each run of this process holds: a lock this process took
// for a run that holds none any more was left behind when its release failed (a cut
// connection), and is stale although its pid is alive.
var liveRuns = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func trackRun(run string, delta int) {
	liveRuns.Lock()
	defer liveRuns.Unlock()
	if liveRuns.n[run] += delta; liveRuns.n[run] <= 0 {
		delete(liveRuns.n, run)
	}
}

// stale reports whether a lock's holder is gone: its lease ran out, or it was a process
// on this machine that no longer exists, or a finished run of this process. An
// unreadable lock counts as stale only after the lease, like any other.
func stale(h Holder, perr error, age, lease time.Duration) bool {
	if age > lease {
		return true
	}
	if perr != nil || h.PID <= 0 {
		return false
	}
	if me, err := os.Hostname(); err != nil || me != h.Machine {
		return false
	}
	if h.PID == os.Getpid() {
		liveRuns.Lock()
		defer liveRuns.Unlock()
		return liveRuns.n[h.Run] == 0
	}
	err := syscall.Kill(h.PID, 0)
	return errors.Is(err, syscall.ESRCH)
}

// ifOurs runs action (a command its last argument, the lock file, completes) under the
// flock, only while the lock is still the regular file holding our content: never on
// a lock another apply took over. It reports whether the lock was ours.
func (l *Lock) ifOurs(ctx context.Context, wait time.Duration, action string) (bool, error) {
	script := l.guarded(wait, fmt.Sprintf(`if [ -f "$l" ] && [ ! -h "$l" ] && [ "$(cat -- "$l")" = %s ]; then %s "$l" || exit 3; echo done; else echo gone; fi`,
		transport.ShellQuote(l.content), action))
	out, err := l.run(ctx, script, wait)
	switch {
	case err != nil:
		return false, err
	case out == "done\n":
		return true, nil
	case out == "gone\n":
		return false, nil
	case out == "busy\n":
		return false, errors.New("its directory stayed busy (flock)")
	}
	return false, fmt.Errorf("unexpected output %q", out)
}

// removal is ifOurs's action that removes the lock.
const removal = "rm -f --"

// errNotOurs is touchFile's error for a lock file that holds another's content.
var errNotOurs = errors.New("the lock holds another run's content")

// ErrLost is in Lost's error.
var ErrLost = errors.New("this run lost the host's lock")

// Lost says when a refresh found the lock no longer this run's: taken over by another
// apply (this run stalled past its lease) or removed by hand. The holder must then
// stop changing the host. nil for a lock still held, and for a nil Lock.
func (l *Lock) Lost() error {
	if l == nil || !l.lost.Load() {
		return nil
	}
	return fmt.Errorf("%w: %s on %s no longer holds this run's content (another apply took it over, or it was removed); stopping this host's changes", ErrLost, l.path, l.host)
}

// refresh touches the lock every interval until Release, so it never looks stale while
// its holder lives.
func (l *Lock) refresh(interval time.Duration) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithDeadline(context.Background(), l.touchDeadline(interval))
				l.touch(ctx, interval)
				cancel()
			}
		}
	}()
}

// touchDeadline is when a touch starting now gives up. A touch may take longer than an
// interval (the first opens the file session, slow on a busy host), but gives up three
// quarters of a lease after the last good one: a touch that fails turns the refreshes
// to commands, and that retry, which the ticker starts at once, still has a quarter
// lease before the lock looks stale to another apply. Past that, a late touch (of a
// lock still ours) gets an interval.
func (l *Lock) touchDeadline(interval time.Duration) time.Time {
	if d := l.touched.Add(l.lease * 3 / 4); time.Until(d) > 0 {
		return d
	}
	return time.Now().Add(interval)
}

// touch refreshes the lock once. It costs no SSH session where it can: it sets the
// lock's time over the file session, which a run of 1,000 hosts holding their locks
// for minutes would otherwise pay for with a session (an sshd fork and a login shell)
// per host every interval. Once that fails (files act as another user, a path the
// file rules refuse), a command touches the lock under the flock instead.
func (l *Lock) touch(ctx context.Context, interval time.Duration) {
	if l.lost.Load() {
		return
	}
	start := time.Now()
	if !l.byCommand {
		err := l.touchFile(ctx)
		switch {
		case err == nil:
			l.touched = start
			return
		case errors.Is(err, errNotOurs):
			l.lost.Store(true)
			return
		}
		l.byCommand = true
	}
	ours, err := l.ifOurs(ctx, min(interval/2, maxGuardWait), "touch -c --")
	switch {
	case err != nil:
	case ours:
		l.touched = start
	default:
		l.lost.Store(true)
	}
}

// touchFile sets the lock's time when it still holds our content (errNotOurs when it
// holds another's). stale compares that time with the host's clock, not this
// machine's, so the time set is the lock's own first mtime (the host's clock when the
// lock was made) plus the time passed here since. Unlike the command it takes no flock: a takeover between its read and its
// write (only of a lock that looked stale, so of a run stalled past its lease) would
// make the new holder's lock look fresher, never remove or change it.
func (l *Lock) touchFile(ctx context.Context) error {
	if l.born.IsZero() {
		fi, err := l.conn.Stat(ctx, l.path)
		if err != nil {
			return err
		}
		l.born = fi.ModTime
	}
	b, err := l.conn.ReadFile(ctx, l.path)
	if err != nil {
		return err
	}
	if strings.TrimRight(string(b), "\n") != l.content {
		return errNotOurs
	}
	return l.conn.SetModTime(ctx, l.path, l.born.Add(time.Since(l.made)))
}

// stopRefresh ends the refreshing; the lock file stays.
func (l *Lock) stopRefresh() {
	l.stopOnce.Do(func() {
		close(l.stop)
		l.wg.Wait()
	})
}

// releaseFile removes the lock over the file session when it still holds our content,
// and reports whether it did (or found the lock no longer ours): a run of many hosts
// then pays no SSH session for its releases. Without the flock this is safe only while
// no other apply can have taken the lock over, that is while it cannot look stale:
// so only within half a lease of our last refresh (a takeover needs a whole lease
// without one; this process is alive, so the same-machine rule does not apply either).
// Otherwise, or when the file session fails, it reports false and Release removes the
// lock by command under the flock.
func (l *Lock) releaseFile(ctx context.Context) bool {
	if l.byCommand || time.Since(l.touched) > l.lease/2 {
		return false
	}
	b, err := l.conn.ReadFile(ctx, l.path)
	if err != nil {
		return false
	}
	if strings.TrimRight(string(b), "\n") != l.content {
		return true
	}
	return l.conn.Remove(ctx, l.path) == nil
}

// Release removes the lock if it is still ours. It works after ctx has ended (a run
// that timed out or was interrupted must still free the host): it runs on a fresh
// context of its own, bounded by releaseTimeout.
func (l *Lock) Release(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		l.stopRefresh()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if !l.releaseFile(rctx) {
			_, err = l.ifOurs(rctx, maxGuardWait, removal)
		}
		trackRun(l.runID, -1)
	})
	if err != nil {
		return fmt.Errorf("release lock %s on %s: %w", l.path, l.host, err)
	}
	return nil
}
