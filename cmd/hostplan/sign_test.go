package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hostplan/hostplan/internal/config"
	"github.com/hostplan/hostplan/internal/engine"
	"github.com/hostplan/hostplan/internal/planfile"
	"github.com/hostplan/hostplan/internal/report"
	"github.com/hostplan/hostplan/tasks"
)

// testApp is the CLI's app with this environment (HOME an empty directory unless
// given), writing to buffers.
func testApp(t *testing.T, env ...string) (*app, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errb bytes.Buffer
	environ := append([]string{"HOME=" + t.TempDir(), "NO_COLOR=1", "SSH_AUTH_SOCK="}, env...)
	return &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, environ: environ}, &out, &errb
}

// samplePlanFile is a small saved plan whose one step is a guarded command.
func samplePlanFile() *planfile.File {
	p := &engine.Plan{Hosts: []*engine.HostPlan{{Host: "h1", Steps: []*engine.Step{
		{Task: "t", Type: "command", Label: "stamp", Change: &tasks.Change{Action: tasks.Run,
			Details: []string{"unless failed", "would run: date > /srv/stamp", "guard unless: test -e /srv/stamp"}}},
	}}}}
	return &planfile.File{Hostplan: "test", Created: time.Now(),
		Inputs: planfile.Inputs{PlanPath: ".", Plan: &config.Snapshot{}, Inventory: &config.Snapshot{}, Vars: []string{}, Sensitive: map[string]planfile.Digest{}},
		Plan:   report.FromPlan(p, report.Options{})}
}

func publicLine(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// keygenVerify is a second reviewer's check with stock OpenSSH.
func keygenVerify(t *testing.T, allowed, identity, file string) (string, error) {
	t.Helper()
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", identity, "-n", planfile.Namespace, "-s", file+".sig")
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeAllowed(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startAgent runs an ssh-agent holding key, on a socket of its own; it is stopped when
// the test ends.
func startAgent(t *testing.T, key string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for i := 0; i < 100 && !exists(sock); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
	return sock
}

// A plan saved by hostplan verifies with stock ssh-keygen -Y verify, whether signed
// with a key file or by ssh-agent, and hostplan trusts it as the operator's own.
func TestSavePlanVerifiesWithSSHKeygen(t *testing.T) {
	key := newSSHKey(t, "ops")
	pubOnly := filepath.Join(t.TempDir(), "agent-key.pub")
	if err := os.WriteFile(pubOnly, []byte(publicLine(t, key)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := startAgent(t, key)
	allowed := writeAllowed(t, "ops@example.org "+publicLine(t, key))
	for _, tc := range []struct {
		name string
		env  []string
		from string
	}{
		{"key file", []string{"HOSTPLAN_SIGN_KEY=" + key}, key},
		{"agent's first key", []string{"SSH_AUTH_SOCK=" + sock}, "ssh-agent"},
		{"public key of a key in the agent", []string{"SSH_AUTH_SOCK=" + sock, "HOSTPLAN_SIGN_KEY=" + pubOnly}, pubOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, out, _ := testApp(t, tc.env...)
			path := filepath.Join(t.TempDir(), "change.plan")
			c := &sharedFlags{}
			if err := a.savePlan(&view{info: a.stdout}, c, path, samplePlanFile()); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "Signed the plan with SHA256:") || !strings.Contains(out.String(), "("+tc.from+")") {
				t.Errorf("output:\n%s", out)
			}
			if msg, err := keygenVerify(t, allowed, "ops@example.org", path); err != nil {
				t.Errorf("ssh-keygen -Y verify: %v\n%s", err, msg)
			}
			f, err := planfile.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if s, err := a.verifySaved(c, path, f); err != nil || !strings.HasPrefix(s.Trusted, "your signing key") {
				t.Errorf("hostplan does not trust its operator's own plan: %v", err)
			}
		})
	}
}

// With no key at all, plan -out still saves the plan, says it is not signed, and
// removes the signature of an older plan at that path.
func TestSavePlanWithoutKey(t *testing.T) {
	a, _, errb := testApp(t)
	path := filepath.Join(t.TempDir(), "change.plan")
	if err := os.WriteFile(path+".sig", []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.savePlan(&view{info: a.stdout}, &sharedFlags{}, path, samplePlanFile()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "the plan is NOT signed") || exists(path+".sig") {
		t.Errorf("stderr %q, old signature left: %v", errb, exists(path+".sig"))
	}
	b, _, _ := testApp(t, "HOSTPLAN_SIGN_KEY="+filepath.Join(t.TempDir(), "missing"))
	if err := b.savePlan(&view{info: b.stdout}, &sharedFlags{}, path, samplePlanFile()); err == nil {
		t.Errorf("a named signing key that does not exist was not an error")
	}
}

// forgePlan edits a saved plan's embedded body and recomputes its sha256, as anyone who
// can write the file can; the old signature stays next to it.
func forgePlan(t *testing.T, path, from, to string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	if err := json.Compact(&body, env["body"]); err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(body.Bytes(), []byte(from), []byte(to), 1)
	if bytes.Equal(edited, body.Bytes()) {
		t.Fatalf("%q is not in the plan", from)
	}
	sum := sha256.Sum256(edited)
	env["body"] = edited
	env["sha256"], _ = json.Marshal(hex.EncodeToString(sum[:]))
	out, _ := json.MarshalIndent(env, "", " ")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := planfile.Read(path); err != nil {
		t.Fatalf("the forged plan does not parse: the unkeyed sum would have stopped it: %v", err)
	}
}

// show says who signed a plan and whether apply would take it, and prints its guards.
func TestShowSignatureStatus(t *testing.T) {
	me, colleague, stranger := newSSHKey(t, "me"), newSSHKey(t, "colleague"), newSSHKey(t, "stranger")
	allowed := writeAllowed(t, `colleague@example.org namespaces="hostplan-plan" `+publicLine(t, colleague))
	for _, tc := range []struct {
		name  string
		setup func(path string)
		code  int
		want  string
	}{
		{"own key", func(p string) { keygenSign(t, me, p) }, exitOK, "Signature: good, by SHA256:"},
		{"allowed signer", func(p string) { keygenSign(t, colleague, p) }, exitOK, "Signature: good, by colleague@example.org SHA256:"},
		{"untrusted", func(p string) { keygenSign(t, stranger, p) }, exitOK,
			"NOT TRUSTED: apply will refuse this plan. If you know whose key it is"},
		{"unsigned", func(string) {}, exitOK, "Signature: NONE"},
		{"forged", func(p string) { keygenSign(t, me, p); forgePlan(t, p, "test -e /srv/stamp", "touch /pwned") }, exitError,
			"CHECK FAILED, do not apply (apply will refuse it): bad signature"},
		{"group writable", func(p string) { keygenSign(t, me, p); os.Chmod(p, 0o660) }, exitError, "writable by group or others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, out, _ := testApp(t, "HOSTPLAN_SIGN_KEY="+me)
			path := filepath.Join(t.TempDir(), "change.plan")
			if err := planfile.Write(path, samplePlanFile()); err != nil {
				t.Fatal(err)
			}
			tc.setup(path)
			code := a.showSaved(&showArgs{sharedFlags: sharedFlags{sign: signFlags{allowed: allowed}}, file: path, format: "human"})
			first, rest, _ := strings.Cut(out.String(), "\n")
			if code != tc.code || !strings.Contains(first, tc.want) {
				t.Errorf("exit %d (want %d), first line %q, want %q", code, tc.code, first, tc.want)
			}
			// A forged guard is what the reviewer then sees, under the failed check.
			guard := "guard unless: test -e /srv/stamp"
			if tc.name == "forged" {
				guard = "guard unless: touch /pwned"
			}
			if !strings.Contains(rest, guard) {
				t.Errorf("show does not print the guard:\n%s", rest)
			}
		})
	}
}

// The allowed_signers file decides whom apply trusts: one that others could write,
// or that is owned by another user, is refused; a named one must exist.
func TestTrustConfig(t *testing.T) {
	colleague := newSSHKey(t, "colleague")
	line := "colleague@example.org " + publicLine(t, colleague)
	for _, tc := range []struct {
		name  string
		setup func(path string)
		flags func(path string) signFlags
		want  string
	}{
		{"private", func(string) {}, func(p string) signFlags { return signFlags{allowed: p} }, ""},
		{"group writable", func(p string) { os.Chmod(p, 0o620) }, func(p string) signFlags { return signFlags{allowed: p} }, "writable by its group or by others"},
		{"other owner", func(p string) { os.Chown(p, 65534, 65534) }, func(p string) signFlags { return signFlags{allowed: p} }, "owned by nobody (uid 65534), not by you"},
		{"named but missing", func(p string) { os.Remove(p) }, func(p string) signFlags { return signFlags{allowed: p} }, "no such file"},
		{"default missing", func(p string) { os.Remove(p) }, func(string) signFlags { return signFlags{} }, ""},
		{"malformed", func(p string) { os.WriteFile(p, []byte("colleague ssh-ed25519 AAAA\n"), 0o600) },
			func(p string) signFlags { return signFlags{allowed: p} }, "allowed_signers:1: not an allowed signer"},
		{"signing key named but missing", func(string) {}, func(p string) signFlags { return signFlags{allowed: p, key: p + ".nokey"} }, "signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "other owner" && os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			path := writeAllowed(t, line)
			tc.setup(path)
			a, _, _ := testApp(t)
			tr, err := a.trust(tc.flags(path))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q (trust %+v)", err, tc.want, tr)
			}
		})
	}
}

// The hint for an untrusted key is an allowed_signers line that ssh-keygen accepts.
func TestTrustHintLine(t *testing.T) {
	key := newSSHKey(t, "colleague")
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(publicLine(t, key)))
	if err != nil {
		t.Fatal(err)
	}
	hint := trustHint(pub, "/root/.config/hostplan/allowed_signers")
	_, line, _ := strings.Cut(hint, "\n  ")
	allowed := writeAllowed(t, strings.Replace(line, "NAME", "colleague@example.org", 1))
	file := filepath.Join(t.TempDir(), "change.plan")
	if err := planfile.Write(file, samplePlanFile()); err != nil {
		t.Fatal(err)
	}
	keygenSign(t, key, file)
	if msg, err := keygenVerify(t, allowed, "colleague@example.org", file); err != nil {
		t.Errorf("ssh-keygen refuses the suggested line %q: %v\n%s", line, err, msg)
	}
}
