package sshsig

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func newTestSigner(t testing.TB) (ssh.PublicKey, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey(), s
}

func authorized(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestParseAllowedSigners(t *testing.T) {
	pub, _ := newTestSigner(t)
	key := authorized(pub)
	for _, tc := range []struct {
		name, line string
		want       AllowedSigner
		err        string
	}{
		{name: "plain", line: "alice@example.org " + key + " laptop", want: AllowedSigner{Principals: "alice@example.org"}},
		{name: "tab", line: "alice\t" + key, want: AllowedSigner{Principals: "alice"}},
		{name: "several principals", line: "alice,ops-* " + key, want: AllowedSigner{Principals: "alice,ops-*"}},
		{name: "quoted principals", line: `"alice smith" ` + key, want: AllowedSigner{Principals: "alice smith"}},
		{name: "namespaces", line: `alice namespaces="hostplan-plan,git" ` + key, want: AllowedSigner{Principals: "alice", Namespaces: "hostplan-plan,git"}},
		{name: "validity", line: `alice valid-after="20260101",valid-before="20270101Z" ` + key,
			want: AllowedSigner{Principals: "alice", ValidAfter: time.Date(2026, 1, 1, 0, 0, 0, 0, time.Local), ValidBefore: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{name: "cert authority", line: "*@example.org cert-authority " + key, want: AllowedSigner{Principals: "*@example.org", CertAuthority: true}},
		{name: "unknown option", line: `alice no-touch-required ` + key, err: `unsupported option "no-touch-required"`},
		{name: "bad time", line: `alice valid-after="tomorrow" ` + key, err: "not a time"},
		{name: "no key", line: "alice", err: "no key after the principals"},
		{name: "bad key", line: "alice ssh-ed25519 AAAA", err: "not an allowed signer"},
		{name: "open quote", line: `"alice ` + key, err: "unterminated quote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAllowedSigners("allowed_signers", []byte("# comment\n\n"+tc.line+"\n"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "allowed_signers:3:") {
					t.Fatalf("err %v, want %q at line 3", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != 1 {
				t.Fatalf("%v, %d signers", err, len(got))
			}
			g := got[0]
			if g.Principals != tc.want.Principals || g.Namespaces != tc.want.Namespaces || g.CertAuthority != tc.want.CertAuthority ||
				!g.ValidAfter.Equal(tc.want.ValidAfter) || !g.ValidBefore.Equal(tc.want.ValidBefore) || g.Line != 3 {
				t.Errorf("got %+v, want %+v", g, tc.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	pub, _ := newTestSigner(t)
	other, _ := newTestSigner(t)
	key := authorized(pub)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, line string
		ok         bool
	}{
		{"any namespace", "alice " + key, true},
		{"our namespace", `alice namespaces="git,hostplan-*" ` + key, true},
		{"other namespace only", `alice namespaces="git" ` + key, false},
		{"negated", `alice namespaces="*,!hostplan-plan" ` + key, false},
		{"other key", "alice " + authorized(other), false},
		{"not yet valid", `alice valid-after="20260701Z" ` + key, false},
		{"expired", `alice valid-before="20260501Z" ` + key, false},
		{"within validity", `alice valid-after="20260101Z",valid-before="20270101Z" ` + key, true},
		{"certificate authority", `alice cert-authority ` + key, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signers, err := ParseAllowedSigners("f", []byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(Match(signers, pub, "hostplan-plan", now)) == 1; got != tc.ok {
				t.Errorf("Match = %v, want %v", got, tc.ok)
			}
		})
	}
}

func TestMatchPatternList(t *testing.T) {
	for _, tc := range []struct {
		s, list string
		want    bool
	}{
		{"hostplan-plan", "hostplan-plan", true},
		{"hostplan-plan", "git,file", false},
		{"hostplan-plan", "host?lan-*", true},
		{"hostplan-plan", "*", true},
		{"hostplan-plan", "*,!hostplan-*", false},
		{"hostplan-plan", "!git", false},
		{"", "*", true},
		{"ab", "a", false},
		{"abc", "a*c", true},
		{"abcbd", "a*b?", true},
		{"abc", "a*b", false},
		{"*x", "*", true},
		{strings.Repeat("a", 200), strings.Repeat("*a", 60) + "b", false}, // no exponential backtracking
	} {
		if got := MatchPatternList(tc.s, tc.list); got != tc.want {
			t.Errorf("MatchPatternList(%q, %q) = %v, want %v", tc.s, tc.list, got, tc.want)
		}
	}
}
