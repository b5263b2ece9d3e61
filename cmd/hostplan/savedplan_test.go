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

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hostplan/hostplan/internal/planfile"
	"github.com/hostplan/hostplan/internal/report"
)

const savedPlanSrc = `
variable "greeting" {
  type    = string
  default = "hello"
}
variable "token" {
  type      = string
  sensitive = true
}
task "conf" {
  on = ["lab"]
  file "/etc/hostplan-saved.conf" {
    content = "${var.greeting} from ${host.name}\n"
  }
  file "/etc/hostplan-token" {
    content = "token=${var.token}\n"
    mode    = "0600"
  }
}
`

const secretToken = "s3cr3t-VALUE-42"

func tokenEnv(v string) []string { return []string{"HOSTPLAN_VAR_token=" + v} }

// schemaCheck validates a --json document against report.Schema.
func schemaCheck(t *testing.T, doc []byte) {
	t.Helper()
	sd, err := jsonschema.UnmarshalJSON(bytes.NewReader(report.Schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", sd); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("does not fit the schema: %v\n%s", err, doc)
	}
}

// newSSHKey makes an ed25519 key with ssh-keygen, as an operator has one.
func newSSHKey(t *testing.T, name string) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return key
}

// keygenSign signs file with ssh-keygen -Y sign, as a reviewer does by hand.
func keygenSign(t *testing.T, key, file string) {
	t.Helper()
	os.Remove(file + ".sig")
	if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-f", key, "-n", planfile.Namespace, file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
}

// signPlan signs a saved plan with a new key of the operator's (ssh-keygen -Y sign)
// and returns the environment of an operator whose signing key that is.
func signPlan(t *testing.T, planFile string) []string {
	t.Helper()
	key := newSSHKey(t, "operator")
	keygenSign(t, key, planFile)
	return []string{"HOSTPLAN_SIGN_KEY=" + key}
}

func TestLabSavedPlan(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 3, "root")
	dir := writeFiles(t, map[string]string{"main.hcl": savedPlanSrc})
	planFile := filepath.Join(t.TempDir(), "change.plan")
	journalFile := filepath.Join(t.TempDir(), "journal.jsonl")
	env := append(tokenEnv(secretToken), "HOSTPLAN_JOURNAL="+journalFile)

	r := hostplanEnv(t, env, "plan", "-out", planFile, "-i", inv, dir)
	if r.code != exitChanges || !strings.Contains(r.stdout, "Saved the plan to "+planFile) {
		t.Fatalf("plan -out:\n%s", r)
	}
	reviewed, _, _ := strings.Cut(r.stdout, "\nSaved the plan")
	if st, err := os.Stat(planFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("plan file: %v, %v; want mode 0600", st, err)
	}
	env = append(env, signPlan(t, planFile)...)

	// What show prints (after who signed it) is what plan printed; JSON fits the
	// schema; Markdown folds hosts.
	if s := hostplan(t, "show", planFile); !strings.HasSuffix(s.stdout, reviewed) || s.code != exitOK {
		t.Errorf("show differs from the plan output:\n--- show\n%s\n--- plan\n%s", s, reviewed)
	}
	js := hostplan(t, "show", "--json", planFile)
	schemaCheck(t, []byte(js.stdout))
	md := hostplan(t, "show", "-format", "markdown", planFile)
	if !strings.Contains(md.stdout, "<details><summary><b>h1</b>: 2 to change</summary>") || !strings.Contains(md.stdout, "```diff") {
		t.Errorf("markdown:\n%s", md.stdout)
	}

	// The plan's source is edited after the review, and h2's file drifts: apply must use
	// the reviewed source, apply h1 and h3, and refuse h2 saying what changed.
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(strings.Replace(savedPlanSrc, "from", "EDITED", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Host("h2").WriteFile("/etc/hostplan-saved.conf", []byte("drift\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := hostplanEnv(t, env, "apply", planFile)
	if a.code != exitError || !strings.Contains(a.stdout, "host h2: refused as stale: /etc/hostplan-saved.conf was created since the plan was made") {
		t.Errorf("apply of a stale plan:\n%s", a)
	}
	for _, h := range []string{"h1", "h3"} {
		if got := remote(t, l.Host(h), "cat /etc/hostplan-saved.conf"); got != "hello from "+h {
			t.Errorf("%s: %q, want the reviewed content", h, got)
		}
	}
	if got := remote(t, l.Host("h2"), "cat /etc/hostplan-saved.conf; test -e /etc/hostplan-token || echo no-token"); got != "drift\nno-token" {
		t.Errorf("h2 was touched although stale: %q", got)
	}

	// A drifted file that existed at plan time: the message names both digests.
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(savedPlanSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	if r = hostplanEnv(t, env, "plan", "-out", planFile, "-i", inv, dir); r.code != exitChanges {
		t.Fatalf("second plan -out:\n%s", r)
	}
	env = append(env, signPlan(t, planFile)...)
	if err := l.Host("h2").WriteFile("/etc/hostplan-saved.conf", []byte("drift again\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := hashAll(t, l)
	a = hostplanEnv(t, env, "apply", "--all-or-nothing", planFile)
	if a.code != exitError || !strings.Contains(a.stdout, "/etc/hostplan-saved.conf changed since the plan was made (sha256 ") ||
		!strings.Contains(a.stdout, "Nothing was applied (--all-or-nothing)") {
		t.Errorf("--all-or-nothing with a stale host:\n%s", a)
	}
	if after := hashAll(t, l); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("--all-or-nothing changed a host")
	}

	// Round trip: plan -out, apply the file, then nothing is left to do.
	if r = hostplanEnv(t, env, "plan", "-out", planFile, "-i", inv, dir); r.code != exitChanges {
		t.Fatalf("third plan -out:\n%s", r)
	}
	env = append(env, signPlan(t, planFile)...)
	if a = hostplanEnv(t, env, "apply", "--json", planFile); a.code != exitOK {
		t.Fatalf("apply of a fresh saved plan:\n%s", a)
	}
	schemaCheck(t, []byte(a.stdout))
	if r = hostplanEnv(t, env, "plan", "-i", inv, dir); r.code != exitOK {
		t.Errorf("plan after applying the saved plan:\n%s", r)
	}

	// The journal holds every host-resource of both applies that ran; history shows them.
	h := hostplanEnv(t, env, "history", "-n", "0")
	for _, want := range []string{
		`h2    file "/etc/hostplan-saved.conf"  create  not applied: refused as stale, nothing changed: /etc/hostplan-saved.conf was created`,
		`h1    file "/etc/hostplan-saved.conf"  create  changed`,
	} {
		if !strings.Contains(h.stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, h)
		}
	}
	if n := strings.Count(hostplanEnv(t, env, "history", "--json", "-n", "0").stdout, "\n"); n != 12 {
		t.Errorf("%d journal entries, want 12 (2 applies x 3 hosts x 2 resources)", n)
	}
	if h := hostplanEnv(t, env, "history", "--host", "h3", "--json").stdout; strings.Count(h, `"host":"h3"`) != 4 || strings.Contains(h, `"host":"h1"`) {
		t.Errorf("history --host h3:\n%s", h)
	}

	// The sensitive value is in none of what hostplan wrote.
	saved, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	journaled, err := os.ReadFile(journalFile)
	if err != nil {
		t.Fatal(err)
	}
	// Nor is a plain digest of the file that holds it, which would stand in for it.
	tokenSum := sha256.Sum256([]byte("token=" + secretToken + "\n"))
	for name, text := range map[string]string{"plan file": string(saved), "plan output": reviewed, "show --json": js.stdout,
		"show markdown": md.stdout, "apply --json": a.stdout, "apply output": a.stderr, "journal": string(journaled), "history": h.stdout} {
		if strings.Contains(text, secretToken) {
			t.Errorf("the sensitive value appears in the %s", name)
		}
		if strings.Contains(text, hex.EncodeToString(tokenSum[:])) {
			t.Errorf("the plain sha256 of the sensitive file appears in the %s", name)
		}
	}
	if got := remote(t, l.Host("h1"), "cat /etc/hostplan-token"); got != "token="+secretToken {
		t.Errorf("token file %q: the sensitive value must still reach the host", got)
	}
}

func TestLabSavedPlanRefusals(t *testing.T) {
	t.Parallel()
	_, inv := startLab(t, 1, "root")
	dir := writeFiles(t, map[string]string{"main.hcl": savedPlanSrc})
	planFile := filepath.Join(t.TempDir(), "change.plan")
	if r := hostplanEnv(t, tokenEnv(secretToken), "plan", "-out", planFile, "-i", inv, dir); r.code != exitChanges {
		t.Fatalf("plan -out:\n%s", r)
	}
	trusted := signPlan(t, planFile)
	saved, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) string {
		p := filepath.Join(t.TempDir(), "x.plan")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var env map[string]any
	if err := json.Unmarshal(saved, &env); err != nil {
		t.Fatal(err)
	}
	env["format_version"] = 99
	newer, _ := json.Marshal(env)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"truncated", []string{"apply", write(saved[:len(saved)/2])}, tokenEnv(secretToken), "truncated or corrupt"},
		{"edited", []string{"apply", write(bytes.Replace(saved, []byte("hello"), []byte("hellO"), 1))}, tokenEnv(secretToken), "checksum does not match"},
		{"newer", []string{"apply", write(newer)}, tokenEnv(secretToken), "plan format version 99"},
		{"no sensitive value", []string{"apply", planFile}, nil, `No value for required variable`},
		{"wrong sensitive value", []string{"apply", planFile}, tokenEnv("other"), `variable "token" is sensitive, so the plan file holds only a digest`},
		{"fixed variable", []string{"apply", "--var", "greeting=hi", planFile}, tokenEnv(secretToken), "fixes every variable but the sensitive ones (token)"},
		{"inventory again", []string{"apply", "-i", inv, planFile}, tokenEnv(secretToken), "fixes the inventory and --limit"},
		{"show newer", []string{"show", write(newer)}, nil, "plan format version 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := hostplanEnv(t, append(tc.env, trusted...), tc.args...)
			if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 1 and %q on stderr:\n%s", tc.want, r)
			}
		})
	}
}

// A file read through a sensitive path (source = var.key_path, file(var.key_path)) is
// in the saved plan as neither path nor content: apply reads it again, and a file that
// changed since the review refuses the host as stale.
func TestLabSavedPlanPrivateFiles(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	const key = "PRIVATE-KEY-BYTES-77\n"
	dir := writeFiles(t, map[string]string{
		"keys/node-secret.pem": key,
		"main.hcl": `
variable "key_path" {
  type      = string
  sensitive = true
}
task "tls" {
  on = ["lab"]
  file "/etc/tls.pem" {
    source = var.key_path
    mode   = "0600"
  }
  file "/etc/tls.copy" {
    content = file(var.key_path)
    mode    = "0600"
  }
}
`})
	keyPath := filepath.Join(dir, "keys/node-secret.pem")
	env := []string{"HOSTPLAN_VAR_key_path=" + keyPath}
	planFile := filepath.Join(t.TempDir(), "tls.plan")
	if r := hostplanEnv(t, env, "plan", "-out", planFile, "-i", inv, dir); r.code != exitChanges || strings.Contains(r.String(), "PRIVATE-KEY") {
		t.Fatalf("plan -out:\n%s", r)
	}
	env = append(env, signPlan(t, planFile)...)
	saved, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"PRIVATE-KEY", "node-secret"} {
		if bytes.Contains(saved, []byte(s)) {
			t.Errorf("the plan file holds %q", s)
		}
	}
	// The key changes after the review: the host is refused, nothing written.
	if err := os.WriteFile(keyPath, []byte("ROTATED\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if a := hostplanEnv(t, env, "apply", planFile); a.code != exitError || !strings.Contains(a.stdout, "refused as stale") || strings.Contains(a.String(), "ROTATED") {
		t.Errorf("apply after the key changed:\n%s", a)
	}
	if got := remote(t, l.Hosts[0], "ls /etc/tls.pem /etc/tls.copy 2>&1 | wc -l; test -e /etc/tls.pem || echo none"); !strings.HasSuffix(got, "none") {
		t.Errorf("a file was written although the plan was stale: %q", got)
	}
	// Reviewed and applied as it is: both files arrive, and the plan after is empty.
	if err := os.WriteFile(keyPath, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	if a := hostplanEnv(t, env, "apply", planFile); a.code != exitOK {
		t.Fatalf("apply of the saved plan:\n%s", a)
	}
	if got := remote(t, l.Hosts[0], "cat /etc/tls.pem /etc/tls.copy"); got != strings.Repeat(key, 2)[:2*len(key)-1] {
		t.Errorf("files on the host: %q", got)
	}
	if r := hostplanEnv(t, env, "plan", "-i", inv, dir); r.code != exitOK {
		t.Errorf("plan after the apply:\n%s", r)
	}
}

const guardedPlanSrc = `
task "guarded" {
  on = ["lab"]
  command "stamp" {
    run    = "echo reviewed > /etc/hostplan-stamp"
    unless = "test -e /etc/hostplan-stamp"
  }
}
`

// A saved plan is applied only when its signature verifies over the very bytes used
// and its key is trusted: the operator's own (HOSTPLAN_SIGN_KEY) or a line of the
// allowed_signers file. A guard edited in the embedded HCL with the sha256 recomputed
// would otherwise run as root at apply's plan step, unseen by the reviewer.
func TestLabSavedPlanSignatures(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	dir := writeFiles(t, map[string]string{"main.hcl": guardedPlanSrc})
	me, colleague, stranger := newSSHKey(t, "me"), newSSHKey(t, "colleague"), newSSHKey(t, "stranger")
	allowed := writeAllowed(t, `colleague@example.org namespaces="hostplan-plan" `+publicLine(t, colleague),
		`gitonly@example.org namespaces="git" `+publicLine(t, stranger))
	env := []string{"HOSTPLAN_SIGN_KEY=" + me, "HOSTPLAN_ALLOWED_SIGNERS=" + allowed}
	reviewed := filepath.Join(t.TempDir(), "change.plan")
	r := hostplan(t, "plan", "-out", reviewed, "-i", inv, dir)
	if r.code != exitChanges || !strings.Contains(r.stdout, "guard unless: test -e /etc/hostplan-stamp") {
		t.Fatalf("plan -out does not show the guard:\n%s", r)
	}
	original, err := os.ReadFile(reviewed)
	if err != nil {
		t.Fatal(err)
	}
	variant := func(sign func(string), edit func(string)) string {
		p := filepath.Join(t.TempDir(), "change.plan")
		if err := os.WriteFile(p, original, 0o600); err != nil {
			t.Fatal(err)
		}
		sign(p)
		edit(p)
		return p
	}
	by := func(key string) func(string) { return func(p string) { keygenSign(t, key, p) } }
	none := func(string) {}
	for _, tc := range []struct {
		name string
		plan string
		want string
	}{
		{"forged guard", variant(by(me), func(p string) {
			forgePlan(t, p, "test -e /etc/hostplan-stamp", "touch /etc/hostplan-pwned; test -e /etc/hostplan-stamp")
		}), "bad signature"},
		{"unsigned", variant(none, none), "is not signed"},
		{"untrusted key", variant(by(stranger), none), "signed by a key you do not trust: SHA256:"},
		{"allowed for another namespace", variant(by(stranger), none), `NAME namespaces="hostplan-plan" ssh-ed25519`},
		{"group writable", variant(by(me), func(p string) { os.Chmod(p, 0o664) }), "writable by group or others (mode 0664)"},
	} {
		a := hostplanEnv(t, env, "apply", tc.plan)
		if a.code != exitError || !strings.Contains(a.stderr, tc.want) || !strings.Contains(strings.ToLower(a.stderr), "refusing to apply") {
			t.Errorf("%s: want a refusal with %q:\n%s", tc.name, tc.want, a)
		}
	}
	if got := remote(t, l.Hosts[0], "ls /etc/hostplan-pwned /etc/hostplan-stamp 2>&1 | grep -c 'No such file'"); got != "2" {
		t.Fatalf("a refused plan ran something on the host: %q", got)
	}
	// The second reviewer's key is in allowed_signers: applied, exactly as reviewed.
	a := hostplanEnv(t, env, "apply", variant(by(colleague), none))
	if a.code != exitOK || !strings.Contains(a.stdout, "signed by colleague@example.org SHA256:") {
		t.Fatalf("apply of a plan signed by a trusted colleague:\n%s", a)
	}
	if got := remote(t, l.Hosts[0], "cat /etc/hostplan-stamp"); got != "reviewed" {
		t.Errorf("stamp %q", got)
	}
}

// plan -out signs the plan with the operator's key; stock ssh-keygen -Y verify checks
// it, show names the signer (trusted or not, as the reader's own trust says), and the
// operator's apply takes it with no further step.
func TestLabSavedPlanSignedByPlan(t *testing.T) {
	t.Parallel()
	l, inv := startLab(t, 1, "root")
	dir := writeFiles(t, map[string]string{"main.hcl": guardedPlanSrc})
	me, reviewer := newSSHKey(t, "me"), newSSHKey(t, "reviewer")
	planFile := filepath.Join(t.TempDir(), "change.plan")
	r := hostplanEnv(t, []string{"HOSTPLAN_SIGN_KEY=" + me}, "plan", "-out", planFile, "-i", inv, dir)
	if r.code != exitChanges || !strings.Contains(r.stdout, "Signed the plan with SHA256:") || !strings.Contains(r.stdout, planFile+".sig") {
		t.Fatalf("plan -out:\n%s", r)
	}
	reviewed, _, _ := strings.Cut(r.stdout, "\nSigned the plan")
	allowed := writeAllowed(t, "me@example.org "+publicLine(t, me))
	if msg, err := keygenVerify(t, allowed, "me@example.org", planFile); err != nil {
		t.Fatalf("ssh-keygen -Y verify of a plan signed by plan -out: %v\n%s", err, msg)
	}
	s := hostplanEnv(t, []string{"HOSTPLAN_SIGN_KEY=" + me}, "show", planFile)
	if !strings.HasPrefix(s.stdout, "Signature: good, by SHA256:") || !strings.Contains(s.stdout, "trusted: your signing key") || !strings.HasSuffix(s.stdout, reviewed) {
		t.Errorf("show by the author:\n%s", s)
	}
	s = hostplanEnv(t, []string{"HOSTPLAN_SIGN_KEY=" + reviewer}, "show", "-allowed-signers", allowed, planFile)
	if !strings.HasPrefix(s.stdout, "Signature: good, by me@example.org SHA256:") || s.code != exitOK {
		t.Errorf("show by a reviewer who trusts the author:\n%s", s)
	}
	if s = hostplanEnv(t, []string{"HOSTPLAN_SIGN_KEY=" + reviewer}, "show", planFile); !strings.Contains(s.stdout, "NOT TRUSTED") {
		t.Errorf("show by a reviewer who does not trust the author:\n%s", s)
	}
	if a := hostplanEnv(t, []string{"HOSTPLAN_SIGN_KEY=" + me}, "apply", planFile); a.code != exitOK {
		t.Fatalf("apply of the operator's own signed plan:\n%s", a)
	}
	if got := remote(t, l.Hosts[0], "cat /etc/hostplan-stamp"); got != "reviewed" {
		t.Errorf("stamp %q", got)
	}
}
