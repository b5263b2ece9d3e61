package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// UnknownHostKeyError: the host is not in known_hosts (and new keys are not accepted).
type UnknownHostKeyError struct {
	Host        string // inventory name
	Address     string // host:port as dialled (the known_hosts entry it needs)
	KeyType     string // e.g. ssh-ed25519
	Fingerprint string // SHA256:...
	KnownHosts  string // the first user known_hosts file (where a new key goes)
	// Searched are all the files that were read (missing ones included).
	Searched []string
	// CertProblem says why the host's certificate was not accepted ("" when it showed
	// a plain key).
	CertProblem string
	// Via is the bastion the host was dialled through ("" for none): the address is
	// the bastion's view of the network, so a scan must run there.
	Via string
}

func (e *UnknownHostKeyError) Error() string {
	host, port := splitHostPortDefault(e.Address)
	scan := fmt.Sprintf("ssh-keyscan -p %s %s >> %s", port, host, e.KnownHosts)
	if e.Via != "" {
		// From this machine the address may be another host, or none at all.
		scan = fmt.Sprintf("%s ssh-keyscan -p %s %s >> %s (the scan runs on the bastion, which dials %s)",
			sshToBastion(e.Via), port, host, e.KnownHosts, e.Address)
	}
	where := e.KnownHosts
	if len(e.Searched) > 1 {
		where = strings.Join(e.Searched, ", ")
	}
	cert := ""
	if e.CertProblem != "" {
		cert = fmt.Sprintf(" (its host certificate was not accepted: %s)", e.CertProblem)
	}
	return fmt.Sprintf("unknown host key for %s (%s): %s %s%s is not in %s; "+
		"check the fingerprint, then accept it with --accept-new-host-keys or add it with: %s",
		e.Host, e.Address, e.KeyType, e.Fingerprint, cert, where, scan)
}

// sshToBastion is the ssh command line that reaches the last bastion of a chain "a,b".
func sshToBastion(chain string) string {
	hops := strings.Split(chain, ",")
	if len(hops) == 1 {
		return "ssh " + strings.TrimSpace(hops[0])
	}
	return "ssh -J " + strings.Join(hops[:len(hops)-1], ",") + " " + strings.TrimSpace(hops[len(hops)-1])
}

// KnownHostsEntry is where known_hosts has a key for a host.
type KnownHostsEntry struct {
	File        string
	Line        int
	KeyType     string
	Fingerprint string
}

// HostKeyChangedError: the host offered a key that differs from the one(s) known_hosts
// has for it. Always refused, AcceptNewHostKeys or not.
type HostKeyChangedError struct {
	Host        string
	Address     string
	KeyType     string // what the host offered
	Fingerprint string
	KnownHosts  string // the file of the first old entry (for ssh-keygen -R)
	Old         []KnownHostsEntry
}

func (e *HostKeyChangedError) Error() string {
	var old []string
	for _, o := range e.Old {
		old = append(old, fmt.Sprintf("%s:%d (%s %s)", o.File, o.Line, o.KeyType, o.Fingerprint))
	}
	return fmt.Sprintf("HOST KEY CHANGED for %s (%s): it offered %s %s, but known_hosts has %s. "+
		"Someone may be intercepting the connection (man-in-the-middle), or the host was reinstalled. "+
		"Refusing to connect; --accept-new-host-keys never replaces a known key. "+
		"If the change is expected, remove the old entry (ssh-keygen -R '%s' -f %s) and accept the new key",
		e.Host, e.Address, e.KeyType, e.Fingerprint, strings.Join(old, ", "),
		knownhosts.Normalize(e.Address), e.KnownHosts)
}

func splitHostPortDefault(addr string) (host, port string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, "22"
	}
	return h, p
}

// knownHostsDB is one reading of a target's known_hosts files.
//
// x/crypto's knownhosts does the matching (patterns, hashed names, ports, @revoked, and
// host certificates through ssh.CertChecker), but it treats the key of a matching
// @cert-authority line like a host key: a CA-matched host offering a plain key gets a
// KeyError whose Want lists the CA key, i.e. it looks CHANGED. So the lines that are
// CA lines, and the keys that are revoked, are noted here from a second scan.
type knownHostsDB struct {
	check   ssh.HostKeyCallback
	ca      map[lineRef]bool // @cert-authority lines
	revoked map[string]bool  // key blobs of @revoked lines
}

// lineRef is a line of a known_hosts file, numbered from 1 as knownhosts numbers them.
type lineRef struct {
	file string
	line int
}

// knownHostsCache is the last reading of a set of known_hosts files, with what each
// file was then (nil: missing).
type knownHostsCache struct {
	infos []fs.FileInfo
	db    *knownHostsDB
}

// knownHosts returns the reading of files, read again only when one of them is another
// file, size or modification time than at the last reading. A run dials every host
// twice over (host key algorithms, then the key's check): parsing a file of N hosts on
// each dial made a run's dialing quadratic, under d.khMu. An append of ours changes the
// size. The caller holds d.khMu.
func (d *Dialer) knownHosts(files []string) (*knownHostsDB, error) {
	infos := make([]fs.FileInfo, len(files))
	for i, f := range files {
		infos[i] = statOpened(f)
	}
	key := strings.Join(files, "\x00")
	if c := d.khCache[key]; c != nil && sameFiles(c.infos, infos) {
		return c.db, nil
	}
	// Read after the stat: a change in between makes the next call read again.
	db, err := readKnownHosts(files...)
	if err != nil {
		return nil, err
	}
	if d.khCache == nil {
		d.khCache = map[string]*knownHostsCache{}
	}
	d.khCache[key] = &knownHostsCache{infos: infos, db: db}
	return db, nil
}

// statOpened is what the file name is, through an open handle (nil: none): on NFS an
// open revalidates the attributes a plain stat may take from a cache for a minute.
func statOpened(name string) fs.FileInfo {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	return fi
}

func sameFiles(a, b []fs.FileInfo) bool {
	for i := range a {
		switch {
		case a[i] == nil || b[i] == nil:
			if a[i] != b[i] {
				return false
			}
		case !os.SameFile(a[i], b[i]) || a[i].Size() != b[i].Size() || !a[i].ModTime().Equal(b[i].ModTime()):
			return false
		}
	}
	return true
}

// readKnownHosts parses files in order; a missing file is an empty one.
func readKnownHosts(files ...string) (*knownHostsDB, error) {
	for attempt := 0; ; attempt++ {
		db, err := readKnownHostsOnce(files)
		// A file removed between our read and knownhosts' own: read them all again.
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt > 0 {
			return db, err
		}
	}
}

func readKnownHostsOnce(files []string) (*knownHostsDB, error) {
	db := &knownHostsDB{ca: map[lineRef]bool{}, revoked: map[string]bool{}}
	var existing []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read known hosts: %w", err)
		}
		existing = append(existing, f)
		db.scanMarkers(f, data)
	}
	if len(existing) == 0 {
		existing = []string{os.DevNull}
	}
	cb, err := knownhosts.New(existing...)
	if err != nil {
		return nil, fmt.Errorf("known hosts %s: %w", strings.Join(existing, ", "), err)
	}
	db.check = cb
	return db, nil
}

// scanMarkers notes the @cert-authority lines and @revoked keys of one file. Lines
// knownhosts cannot parse make knownhosts.New fail, so they need no care here.
func (db *knownHostsDB) scanMarkers(file string, data []byte) {
	for i, line := range bytes.Split(data, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) < 4 {
			continue
		}
		switch f[0] {
		case "@cert-authority":
			db.ca[lineRef{file, i + 1}] = true
		case "@revoked":
			if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(f[2] + " " + f[3])); err == nil {
				db.revoked[string(k.Marshal())] = true
			}
		}
	}
}

// probeKey is a public key no known_hosts line can hold: checking it lists every key known
// for an address (knownhosts puts all matching lines into KeyError.Want).
type probeKey struct{}

func (probeKey) Type() string                        { return "hostplan-probe" }
func (probeKey) Marshal() []byte                     { return []byte("\x00\x00\x00\x0ehostplan-probe\x00") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

// knownKeys lists the host keys and the CA keys known_hosts has for address.
func (db *knownHostsDB) knownKeys(address string) (hostKeys, caKeys []knownhosts.KnownKey) {
	err := db.check(address, &net.TCPAddr{IP: net.IPv4zero, Port: 22}, probeKey{})
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		return db.split(ke.Want)
	}
	return nil, nil
}

// split separates the keys of @cert-authority lines from host keys.
func (db *knownHostsDB) split(keys []knownhosts.KnownKey) (hostKeys, caKeys []knownhosts.KnownKey) {
	for _, k := range keys {
		if db.ca[lineRef{k.Filename, k.Line}] {
			caKeys = append(caKeys, k)
		} else {
			hostKeys = append(hostKeys, k)
		}
	}
	return hostKeys, caKeys
}

// hostKeyAlgorithms picks ClientConfig.HostKeyAlgorithms for address: the algorithms of
// the key types known_hosts has for it, so the server shows a key we can check
// (golang/go#29286: by default x/crypto asks for ECDSA first and a host known only by its
// Ed25519 key would look changed). When a @cert-authority line matches the address,
// the certificate algorithms come first (as in OpenSSH), then the known key types or,
// with none known, every plain type: a host without a certificate must still be able
// to show its plain key, which is then unknown (or accepted), not a failed handshake.
// For an address known_hosts knows nothing about, every plain type in our order, so
// the key shown (and added by accept-new) is the Ed25519 one, as with ssh, rather
// than x/crypto's first choice, ECDSA.
func (db *knownHostsDB) hostKeyAlgorithms(address string) []string {
	hostKeys, caKeys := db.knownKeys(address)
	algos := algorithmsForKeyTypes(keyTypes(hostKeys))
	if len(algos) == 0 {
		algos = plainHostKeyAlgorithms()
	}
	if len(caKeys) == 0 {
		return algos
	}
	return append(append([]string(nil), certHostKeyAlgorithms...), algos...)
}

// certHostKeyAlgorithms are the host certificate algorithms x/crypto verifies, in our
// order of preference (the CA's key type says nothing about the host key's).
var certHostKeyAlgorithms = []string{
	ssh.CertAlgoED25519v01, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
	ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01,
}

func plainHostKeyAlgorithms() []string {
	var algos []string
	for _, o := range hostKeyAlgoOrder {
		algos = append(algos, o.algos...)
	}
	return algos
}

func keyTypes(keys []knownhosts.KnownKey) []string {
	var types []string
	for _, k := range keys {
		types = append(types, k.Key.Type())
	}
	return types
}

// hostKeyAlgoOrder is our preference among the host key algorithms x/crypto verifies.
var hostKeyAlgoOrder = []struct {
	keyType string
	algos   []string
}{
	{ssh.KeyAlgoED25519, []string{ssh.KeyAlgoED25519}},
	{ssh.KeyAlgoECDSA256, []string{ssh.KeyAlgoECDSA256}},
	{ssh.KeyAlgoECDSA384, []string{ssh.KeyAlgoECDSA384}},
	{ssh.KeyAlgoECDSA521, []string{ssh.KeyAlgoECDSA521}},
	{ssh.KeyAlgoRSA, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
}

// algorithmsForKeyTypes maps known_hosts key types to host key algorithms, in our order
// of preference; ssh-rsa keys are asked for with SHA-2 signatures first. Types x/crypto
// cannot verify are left out; nil when nothing is left.
func algorithmsForKeyTypes(types []string) []string {
	var algos []string
	for _, o := range hostKeyAlgoOrder {
		for _, t := range types {
			if t == o.keyType {
				algos = append(algos, o.algos...)
				break
			}
		}
	}
	return algos
}

// hostKeyProblem classifies a knownhosts check error: unknown host (no host key in
// Want), a changed key, or something else (revoked key, broken file), returned as is.
func (db *knownHostsDB) hostKeyProblem(err error, host, address string, pol hostKeyPolicy, key ssh.PublicKey) error {
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		// A matching CA line is no host key: with no host key known, the host is
		// unknown, even though knownhosts listed the CA key in Want.
		want, _ := db.split(ke.Want)
		if len(want) == 0 {
			return &UnknownHostKeyError{Host: host, Address: address, KeyType: key.Type(),
				Fingerprint: ssh.FingerprintSHA256(key), KnownHosts: pol.user[0], Searched: pol.files()}
		}
		// KnownHosts is where the old entry is, for the ssh-keygen -R hint.
		ce := &HostKeyChangedError{Host: host, Address: address, KeyType: key.Type(),
			Fingerprint: ssh.FingerprintSHA256(key), KnownHosts: want[0].Filename}
		for _, w := range want {
			ce.Old = append(ce.Old, KnownHostsEntry{File: w.Filename, Line: w.Line,
				KeyType: w.Key.Type(), Fingerprint: ssh.FingerprintSHA256(w.Key)})
		}
		return ce
	}
	var re *knownhosts.RevokedError
	if errors.As(err, &re) {
		return fmt.Errorf("host key of %s (%s) %s %s is marked @revoked in %s:%d: refusing to connect",
			host, address, key.Type(), ssh.FingerprintSHA256(key), re.Revoked.Filename, re.Revoked.Line)
	}
	return fmt.Errorf("host key of %s (%s): %w", host, address, err)
}

// appendKnownHost adds a known_hosts line for address, creating the file (and its
// directory) when missing. The caller serialises calls.
func appendKnownHost(file, address string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(address)}, key) + "\n"
	// Start on a new line if the file does not end with one.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// defaultGlobalKnownHosts are OpenSSH's GlobalKnownHostsFile default.
var defaultGlobalKnownHosts = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}

// hostKeyPolicy is how one target's host keys are checked.
type hostKeyPolicy struct {
	user   []string // user known_hosts files; new keys go to the first
	global []string // read-only files
	mode   string   // strictYes, strictAcceptNew or strictNo
	warn   func(string)
}

func (p hostKeyPolicy) files() []string { return append(append([]string(nil), p.user...), p.global...) }

// hostKeyPolicy resolves t's known_hosts files and StrictHostKeyChecking. The
// --accept-new-host-keys option (DialerOptions.AcceptNewHostKeys) turns "yes" into
// accept-new, as a command line option beats ssh_config; it leaves "no" alone.
func (d *Dialer) hostKeyPolicy(t Target) hostKeyPolicy {
	p := hostKeyPolicy{user: []string{expandHome(t.KnownHosts)}, warn: d.opts.Warn}
	for _, f := range t.UserKnownHosts {
		p.user = append(p.user, expandHome(f))
	}
	switch {
	case t.GlobalKnownHosts == nil:
		p.global = defaultGlobalKnownHosts
	case len(t.GlobalKnownHosts) == 1 && strings.EqualFold(t.GlobalKnownHosts[0], "none"):
	default:
		for _, f := range t.GlobalKnownHosts {
			p.global = append(p.global, expandHome(f))
		}
	}
	switch strings.ToLower(t.StrictHostKeyChecking) {
	case "no", "off":
		p.mode = strictNo
	case "accept-new":
		p.mode = strictAcceptNew
	default: // "yes", "ask" (nobody is there to answer) and ""
		p.mode = strictYes
		if d.opts.AcceptNewHostKeys {
			p.mode = strictAcceptNew
		}
	}
	if p.warn == nil {
		p.warn = func(string) {}
	}
	return p
}

// verify checks key for address as OpenSSH does. A certificate is accepted when a
// @cert-authority line for the address signed it (x/crypto's CertChecker also checks
// its type, principals and validity); otherwise, unless the certificate or its CA is
// @revoked, its plain key is checked like any host key ("No matching CA found. Retry
// with plain key"), and certErr says why the certificate was not enough.
func (db *knownHostsDB) verify(address string, remote net.Addr, key ssh.PublicKey) (err, certErr error) {
	cert, ok := key.(*ssh.Certificate)
	if !ok {
		return db.check(address, remote, key), nil
	}
	if db.revoked[string(cert.SignatureKey.Marshal())] {
		return fmt.Errorf("the host certificate's CA %s %s is marked @revoked in known_hosts: refusing to connect",
			cert.SignatureKey.Type(), ssh.FingerprintSHA256(cert.SignatureKey)), nil
	}
	certErr = db.check(address, remote, cert)
	if certErr == nil {
		return nil, nil
	}
	return db.check(address, remote, cert.Key), certErr
}

// hostKeyCallback checks host keys of one dial against pol's files. Unknown keys are
// added to the first user file under accept-new and no (with a warning for no);
// changed and revoked keys are always refused, even under StrictHostKeyChecking no,
// where OpenSSH would go on with public key authentication only: hostplan may send a
// sudo password and file contents over the connection, which a man in the middle
// would get. Reads and appends are serialised by d.khMu, so concurrent dials see whole
// lines.
func (d *Dialer) hostKeyCallback(host string, pol hostKeyPolicy) ssh.HostKeyCallback {
	return func(address string, remote net.Addr, key ssh.PublicKey) error {
		d.khMu.Lock()
		defer d.khMu.Unlock()
		db, err := d.knownHosts(pol.files())
		if err != nil {
			return err
		}
		err, certErr := db.verify(address, remote, key)
		if err == nil {
			return nil
		}
		plain := key
		if cert, ok := key.(*ssh.Certificate); ok && certErr != nil {
			plain = cert.Key
		}
		problem := db.hostKeyProblem(err, host, address, pol, plain)
		var unknown *UnknownHostKeyError
		if !errors.As(problem, &unknown) {
			return problem
		}
		if certErr != nil {
			unknown.CertProblem = certErr.Error()
		}
		if pol.mode == strictYes {
			return problem
		}
		return addHostKey(pol, host, address, plain)
	}
}

// addHostKey writes an unknown host's key to the first user known_hosts file.
func addHostKey(pol hostKeyPolicy, host, address string, key ssh.PublicKey) error {
	file := pol.user[0]
	if err := appendKnownHost(file, address, key); err != nil {
		return fmt.Errorf("add host key of %s to %s: %w", host, file, err)
	}
	if pol.mode == strictNo {
		pol.warn(fmt.Sprintf("StrictHostKeyChecking no: the host key of %s (%s) was not checked; "+
			"added %s %s to %s without asking (a changed key is still refused)",
			host, address, key.Type(), ssh.FingerprintSHA256(key), file))
	}
	return nil
}
