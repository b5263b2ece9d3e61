package inventory

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MatchExecTimeout bounds each Match exec command. ssh waits for ever; hostplan resolves
// every host before it connects to any, so one hung test would stall the whole run.
var MatchExecTimeout = 10 * time.Second

// matchLine evaluates a Match line's criteria, ANDed, as match_cfg_line does: once one
// fails, later exec commands are not run.
func (l *sshLookup) matchLine(ln *sshLine) (bool, error) {
	result := true
	for _, c := range ln.match {
		var r bool
		switch c.kind {
		case "all":
			return result && !c.negate, nil
		case "canonical", "final":
			// Both match only in the final pass, which "final" asks for.
			l.wantFin = l.wantFin || c.kind == "final"
			r = l.final
		case "host":
			r = matchPatternList(l.hostName(), c.arg, true)
		case "originalhost":
			r = matchPatternList(l.original, c.arg, true)
		case "user":
			r = matchPatternList(l.remoteUser(), c.arg, false)
		case "localuser":
			r = matchPatternList(l.local, c.arg, false)
		case "exec":
			if !result {
				continue
			}
			var err error
			if r, err = l.exec(ln, c.arg); err != nil {
				return false, err
			}
		}
		if r == c.negate {
			result = false
		}
	}
	return result, nil
}

// exec runs a Match exec command through the user's shell, its tokens expanded, and
// reports whether it exited 0. Results are shared by every host whose expanded command
// is the same.
func (l *sshLookup) exec(ln *sshLine, arg string) (bool, error) {
	cmd, err := l.execTokens(arg)
	if err != nil {
		return false, fmt.Errorf("%s: Match exec %q: %w", ln.where(), arg, err)
	}
	c := &l.cfg.exec
	c.mu.Lock()
	res, ok := c.done[cmd]
	c.mu.Unlock()
	if !ok {
		res.ok, res.err = runMatchExec(cmd)
		if res.err != nil {
			res.err = fmt.Errorf("%s: Match exec %q: %w", ln.where(), cmd, res.err)
		}
		c.mu.Lock()
		if c.done == nil {
			c.done = map[string]execResult{}
		}
		c.done[cmd] = res
		c.mu.Unlock()
	}
	return res.ok, res.err
}

// execTokens expands the tokens ssh expands in a Match exec command. The values that
// come from the inventory or the config (%h, %n, %r, %k) are put into a shell command,
// so one with a shell metacharacter is refused (as OpenSSH 9.6 refuses such host and
// user names), lest an inventory address run code on this machine.
func (l *sshLookup) execTokens(s string) (string, error) {
	host, ruser, port := l.hostName(), l.remoteUser(), l.remotePort()
	keyAlias := host
	if v, ok := l.first("hostkeyalias"); ok {
		keyAlias = v.value
	}
	long, _ := os.Hostname()
	short, _, _ := strings.Cut(long, ".")
	for _, v := range []string{host, l.original, ruser, keyAlias} {
		if !shellSafeName(v) {
			return "", fmt.Errorf("the host or user name %q has characters a shell would interpret; hostplan does not put it into the command", v)
		}
	}
	sum := sha1.Sum([]byte(long + host + port + ruser))
	vals := map[byte]string{
		'%': "%", 'C': hex.EncodeToString(sum[:]), 'L': short, 'd': l.home, 'h': host,
		'k': keyAlias, 'l': long, 'n': l.original, 'p': port, 'r': ruser, 'u': l.local,
		'i': strconv.Itoa(os.Getuid()),
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			sb.WriteByte(s[i])
			continue
		}
		if i++; i == len(s) {
			return "", errors.New("ends in a lone %; write %% for a percent sign")
		}
		v, ok := vals[s[i]]
		if !ok {
			return "", fmt.Errorf("has the token %%%c, which ssh does not expand there either (it takes %%%%, %%C, %%d, %%h, %%i, %%k, %%L, %%l, %%n, %%p, %%r and %%u)", s[i])
		}
		sb.WriteString(v)
	}
	return sb.String(), nil
}

// shellSafeName reports whether a host or user name can go into a shell command as is.
func shellSafeName(s string) bool {
	if s == "" || s[0] == '-' {
		return s == ""
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("._-@:+", r)
		if !ok {
			return false
		}
	}
	return true
}

// runMatchExec runs cmd as ssh's execute_in_shell does ($SHELL -c, stdin and stdout
// /dev/null) and reports whether it exited 0. It runs in its own process group, killed
// whole at the timeout, so a background child cannot keep the run waiting either.
func runMatchExec(cmd string) (bool, error) {
	shell := os.Getenv("SHELL")
	if shell == "" {
		shell = "/bin/sh"
	}
	ctx, cancel := context.WithTimeout(context.Background(), MatchExecTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, shell, "-c", cmd)
	c.Stderr = os.Stderr // as ssh: the command's complaints are the user's to see
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = time.Second
	err := c.Run()
	if ctx.Err() != nil {
		return false, fmt.Errorf("did not finish within %s and was killed", MatchExecTimeout)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("could not run it with %s: %w", shell, err)
	}
	return true, nil
}
