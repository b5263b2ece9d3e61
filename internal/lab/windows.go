package lab

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hostplan/hostplan/internal/lab/winstandin"
)

// There is no Windows here, so a lab host can play one (MakeWindows): its sshd stays the
// real OpenSSH, but announces itself as OpenSSH for Windows in its version string and
// hands every exec request to a stand-in for cmd.exe and netsh (package winstandin)
// instead of a shell. hostplan sees what it would see on Windows: a cmd.exe command
// line is run, netsh answers in English from its own state, and any POSIX command
// fails with cmd.exe's "is not recognized".
//
// The stand-in is this very executable: sshd's ForceCommand starts a copy of it with
// windowsStateEnv set, and init below turns the process into the stand-in before
// anything else runs (the re-exec pattern), so no separate binary has to be built.

// windowsStateEnv carries the stand-in's state file path.
const windowsStateEnv = "HOSTPLAN_LAB_WINDOWS_STATE"

func init() {
	if state := os.Getenv(windowsStateEnv); state != "" {
		os.Exit(winstandin.Run(os.Getenv("SSH_ORIGINAL_COMMAND"), state, os.Stdout, os.Stderr))
	}
}

// MakeWindows turns h into a Windows stand-in for every SSH connection opened from now
// on (sshd -i reads its configuration per connection). Exec and ReadFile still reach
// the Linux host underneath, which is how tests look at WindowsState and WindowsLog.
func (h *Host) MakeWindows() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("make %s a Windows stand-in: %w", h.Name, err)
	}
	// The running executable may sit in a /tmp the host does not see; its state dir it does.
	standIn := filepath.Join(h.dir, "windows-standin")
	if err := copyFile(exe, standIn, 0o755); err != nil {
		return fmt.Errorf("make %s a Windows stand-in: %w", h.Name, err)
	}
	cfg, err := os.OpenFile(filepath.Join(h.dir, "sshd_config"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("make %s a Windows stand-in: %w", h.Name, err)
	}
	// ForceCommand also takes over the sftp subsystem: a Windows host's files are out of
	// reach for hostplan, and a stray SFTP request fails loudly instead of reaching Linux.
	_, err = fmt.Fprintf(cfg, "VersionAddendum OpenSSH_for_Windows_9.5 (hostplan lab stand-in)\nForceCommand %s=%s exec %s\n",
		windowsStateEnv, h.WindowsState(), standIn)
	if cerr := cfg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("make %s a Windows stand-in: %w", h.Name, err)
	}
	return nil
}

// WindowsState is the JSON file holding a Windows stand-in's port proxy entries and
// firewall rules.
func (h *Host) WindowsState() string { return filepath.Join(h.dir, "windows-state.json") }

// WindowsLog returns every command line a Windows stand-in was asked to run, one per line.
func (h *Host) WindowsLog() (string, error) {
	b, err := os.ReadFile(h.WindowsState() + ".log")
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(b), err
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
