package transport

// SSHOptions are the OpenSSH client options of issue 15 that a Target may carry (from
// ~/.ssh/config or the inventory). Their zero value behaves as hostplan did before:
// ~/.ssh/known_hosts plus the system files, the agent at $SSH_AUTH_SOCK, every agent key.
type SSHOptions struct {
	// UserKnownHosts are more user known_hosts files, read after Target.KnownHosts
	// (OpenSSH's UserKnownHostsFile takes several). New keys always go to KnownHosts,
	// the first, as OpenSSH writes to the first.
	UserKnownHosts []string
	// GlobalKnownHosts are read-only known_hosts files (GlobalKnownHostsFile). nil means
	// OpenSSH's default, /etc/ssh/ssh_known_hosts and /etc/ssh/ssh_known_hosts2; a
	// single "none" reads none.
	GlobalKnownHosts []string
	// StrictHostKeyChecking is "yes" (or "ask": nobody can answer), "accept-new", or "no"
	// ("off"); "" lets DialerOptions.AcceptNewHostKeys decide. See hostKeyPolicy.
	StrictHostKeyChecking string
	// CertificateFiles are user certificates (CertificateFile): each is offered with the
	// identity file, or agent key, whose public key it certifies. KEY-cert.pub beside an
	// identity file KEY is offered too, without being named here, as ssh does.
	CertificateFiles []string
	// IdentityAgent is the agent's socket: "" or "SSH_AUTH_SOCK" means $SSH_AUTH_SOCK,
	// "none" no agent, "$VAR" or "${VAR}" the socket an environment variable names,
	// anything else a path ("~/" expanded).
	IdentityAgent string
	// IdentitiesOnly offers only the identity files' keys (and their certificates): an
	// agent key is used only when it is the key of a configured identity file (or of
	// its .pub), never the agent's other keys.
	IdentitiesOnly bool
}

// Host key checking modes (StrictHostKeyChecking).
const (
	strictYes       = "yes"
	strictAcceptNew = "accept-new"
	strictNo        = "no"
)
