package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// labpassHash is SudoPassword in crypt(3) SHA-512 form (`openssl passwd -6 -salt hplabsaltA1`).
const labpassHash = "$6$hplabsaltA1$dQIuwMyhmj55o3GZt12gG70bIlqqUSgX3AYUwr.BS6iVtzQgz3k/HADrnDokuVQ1.YG8BAPa.xOIdAm9WDGqq."

// Dirs a host sees through an overlay (lower: the real dir) and dirs it gets empty.
var (
	overlayDirs = []string{"etc", "usr", "var", "opt"}
	emptyDirs   = []struct {
		name string
		mode os.FileMode
	}{{"root", 0o700}, {"home", 0o755}, {"tmp", os.ModeSticky | 0o777}, {"srv", 0o755}}
)

func sftpServerPath() string {
	for _, p := range []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/lib/ssh/sftp-server", "/usr/libexec/sftp-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// userKey is the lab user key of this process: every lab a process starts uses the same
// one, because encrypting it (bcrypt KDF, 16 rounds) costs ~100ms.
var userKey struct {
	once                  sync.Once
	signer                ssh.Signer
	plain, encrypted, pub []byte
	err                   error
}

func makeUserKey() {
	u := &userKey
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		u.err = err
		return
	}
	if u.signer, u.err = ssh.NewSignerFromKey(key); u.err != nil {
		return
	}
	const comment = "hostplan-lab"
	blk, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		u.err = err
		return
	}
	u.plain = pem.EncodeToMemory(blk)
	eblk, err := ssh.MarshalPrivateKeyWithPassphrase(key, comment, []byte(KeyPassphrase))
	if err != nil {
		u.err = err
		return
	}
	u.encrypted = pem.EncodeToMemory(eblk)
	pub := ssh.MarshalAuthorizedKey(u.signer.PublicKey())
	u.pub = append(pub[:len(pub)-1], []byte(" "+comment+"\n")...)
}

// writeUserKeys writes the lab user key (plain and encrypted) and authorized_keys.
func (l *Lab) writeUserKeys() (ssh.Signer, error) {
	userKey.once.Do(makeUserKey)
	if userKey.err != nil {
		return nil, userKey.err
	}
	if err := os.WriteFile(l.UserKey, userKey.plain, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(l.EncryptedUserKey, userKey.encrypted, 0o600); err != nil {
		return nil, err
	}
	for _, p := range []string{l.UserKey + ".pub", l.EncryptedUserKey + ".pub", filepath.Join(l.Dir, "authorized_keys")} {
		if err := os.WriteFile(p, userKey.pub, 0o644); err != nil {
			return nil, err
		}
		if err := os.Chmod(p, 0o644); err != nil { // sshd reads it as the login user
			return nil, err
		}
	}
	return userKey.signer, nil
}

type labUser struct {
	name   string
	id     int // uid and gid
	shadow string
}

// fileAttr is what a file written into an overlay upper dir copies from the real one.
type fileAttr struct {
	mode     os.FileMode
	uid, gid int
}

type etcFile struct {
	rel  string // under /etc
	data []byte
	attr fileAttr
}

// baseFiles are the /etc files every host shares: the real account databases plus the
// lab users, and the lab's sudoers rules.
type baseFiles struct {
	files    []etcFile
	hosts    []byte // the real /etc/hosts
	hostsA   fileAttr
	users    []labUser
	overlays []string // overlayDirs that exist here
	empties  []int    // indexes into emptyDirs that exist here
}

func statAttr(path string, def fileAttr) fileAttr {
	fi, err := os.Stat(path)
	if err != nil {
		return def
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileAttr{mode: fi.Mode() & (os.ModePerm | os.ModeSetgid | os.ModeSetuid | os.ModeSticky), uid: int(st.Uid), gid: int(st.Gid)}
}

func readBaseFiles() (*baseFiles, error) {
	b := &baseFiles{}
	for _, d := range overlayDirs {
		if fi, err := os.Stat("/" + d); err == nil && fi.IsDir() {
			b.overlays = append(b.overlays, d)
		}
	}
	for i, d := range emptyDirs {
		if fi, err := os.Stat("/" + d.name); err == nil && fi.IsDir() {
			b.empties = append(b.empties, i)
		}
	}
	read := func(name string) ([]byte, error) {
		data, err := os.ReadFile("/etc/" + name)
		if os.IsNotExist(err) && name == "gshadow" {
			return nil, nil
		}
		return data, err
	}
	files := map[string][]byte{}
	for _, n := range []string{"passwd", "group", "shadow", "gshadow", "hosts"} {
		data, err := read(n)
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		files[n] = data
	}
	names := []string{SudoUser, PasswordSudoUser, NoSudoUser}
	isLabName := func(line string) bool {
		for _, n := range names {
			if strings.HasPrefix(line, n+":") {
				return true
			}
		}
		return false
	}
	usedIDs := map[int]bool{}
	for _, n := range []string{"passwd", "group"} {
		for _, line := range strings.Split(string(files[n]), "\n") {
			if f := strings.Split(line, ":"); len(f) > 2 && !isLabName(line) {
				if id, err := strconv.Atoi(f[2]); err == nil {
					usedIDs[id] = true
				}
			}
		}
	}
	id := 2900
	for _, n := range names {
		for usedIDs[id] {
			id++
		}
		usedIDs[id] = true
		sh := "*"
		if n == PasswordSudoUser {
			sh = labpassHash
		}
		b.users = append(b.users, labUser{name: n, id: id, shadow: sh})
	}

	// Rebuild each database without stale lab entries, then append the lab users.
	edit := func(name string, extra func(u labUser) string, fix func(string) string) []byte {
		var out strings.Builder
		for _, line := range strings.SplitAfter(string(files[name]), "\n") {
			if line == "" || isLabName(line) {
				continue
			}
			if fix != nil {
				line = fix(line)
			}
			out.WriteString(line)
			if !strings.HasSuffix(line, "\n") {
				out.WriteString("\n")
			}
		}
		for _, u := range b.users {
			out.WriteString(extra(u) + "\n")
		}
		return []byte(out.String())
	}
	add := func(name string, data []byte, def fileAttr) {
		b.files = append(b.files, etcFile{rel: name, data: data, attr: statAttr("/etc/"+name, def)})
	}
	add("passwd", edit("passwd", func(u labUser) string {
		return fmt.Sprintf("%s:x:%d:%d:hostplan lab user:/home/%s:/bin/bash", u.name, u.id, u.id, u.name)
	}, nil), fileAttr{mode: 0o644})
	add("group", edit("group", func(u labUser) string {
		return fmt.Sprintf("%s:x:%d:", u.name, u.id)
	}, nil), fileAttr{mode: 0o644})
	add("shadow", edit("shadow", func(u labUser) string {
		return fmt.Sprintf("%s:%s:19700:0:99999:7:::", u.name, u.shadow)
	}, func(line string) string {
		// Without PAM, sshd refuses a locked ("!...") account even for key logins.
		if rest, ok := strings.CutPrefix(line, "root:!"); ok {
			if i := strings.IndexByte(rest, ':'); i >= 0 {
				return "root:*" + rest[i:]
			}
		}
		return line
	}), fileAttr{mode: 0o640})
	if files["gshadow"] != nil {
		add("gshadow", edit("gshadow", func(u labUser) string {
			return fmt.Sprintf("%s:!::", u.name)
		}, nil), fileAttr{mode: 0o640})
	}
	b.files = append(b.files, etcFile{
		rel:  "sudoers.d/hostplan-lab",
		data: []byte(fmt.Sprintf("%s ALL=(ALL:ALL) NOPASSWD: ALL\n%s ALL=(ALL:ALL) ALL\n", SudoUser, PasswordSudoUser)),
		attr: fileAttr{mode: 0o440},
	})
	b.hosts = files["hosts"]
	b.hostsA = statAttr("/etc/hosts", fileAttr{mode: 0o644})
	return b, nil
}

// mkdirLike creates dir (and missing parents up to and excluding stop) with the
// attributes of the matching real directory: an overlay shows an upper dir's own
// mode and owner for a merged directory.
func mkdirLike(dir, real string, def fileAttr) error {
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	a := statAttr(real, def)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chown(dir, a.uid, a.gid); err != nil {
		return err
	}
	return os.Chmod(dir, a.mode|os.ModeDir)
}

func writeWithAttr(path string, data []byte, a fileAttr) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	if err := os.Chown(path, a.uid, a.gid); err != nil {
		return err
	}
	return os.Chmod(path, a.mode)
}

// setup prepares the host's files and creates its namespaces.
func (h *Host) setup(base *baseFiles) error {
	if err := os.Mkdir(h.dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(h.dir, 0o755); err != nil {
		return err
	}
	h.mu.Lock()
	err := h.writeHostKeysLocked()
	h.mu.Unlock()
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`# hostplan lab %s, host %s
%[6]sHostKey %[3]s/ssh_host_ed25519_key
HostKey %[3]s/ssh_host_ecdsa_key
AuthorizedKeysFile %[4]s/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxSessions 10
PidFile none
LogLevel ERROR
Subsystem sftp %[5]s
`, h.lab.Name, h.Name, h.dir, h.lab.Dir, sftpServerPath(), h.lab.sshdConfig)
	if err := os.WriteFile(filepath.Join(h.dir, "sshd_config"), []byte(cfg), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(h.LogPath(), nil, 0o644); err != nil {
		return err
	}

	// Overlay upper and work dirs, with /etc prepared: accounts, sudoers, host identity.
	for _, d := range base.overlays {
		if err := mkdirLike(filepath.Join(h.dir, "upper", d), "/"+d, fileAttr{mode: 0o755}); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(h.dir, "work", d), 0o700); err != nil {
			return err
		}
	}
	upperEtc := filepath.Join(h.dir, "upper", "etc")
	var mid [16]byte
	if _, err := rand.Read(mid[:]); err != nil {
		return err
	}
	files := append([]etcFile{}, base.files...)
	hosts := append(append([]byte{}, base.hosts...), []byte(fmt.Sprintf("\n# hostplan lab\n%s\t%s\n", h.Address, h.Name))...)
	files = append(files,
		etcFile{rel: "hosts", data: hosts, attr: base.hostsA},
		etcFile{rel: "hostname", data: []byte(h.Name + "\n"), attr: statAttr("/etc/hostname", fileAttr{mode: 0o644})},
		etcFile{rel: "machine-id", data: []byte(hex.EncodeToString(mid[:]) + "\n"), attr: statAttr("/etc/machine-id", fileAttr{mode: 0o444})},
	)
	for _, f := range files {
		p := filepath.Join(upperEtc, f.rel)
		if dir := filepath.Dir(f.rel); dir != "." {
			if err := mkdirLike(filepath.Join(upperEtc, dir), "/etc/"+dir, fileAttr{mode: 0o755}); err != nil {
				return err
			}
		}
		if err := writeWithAttr(p, f.data, f.attr); err != nil {
			return err
		}
	}
	// Empty /root, /home (with the lab users' homes), /tmp, /srv; a mount point for /run.
	for _, i := range base.empties {
		d := emptyDirs[i]
		p := filepath.Join(h.dir, d.name)
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode|os.ModeDir); err != nil {
			return err
		}
		if d.name == "home" {
			for _, u := range base.users {
				hp := filepath.Join(p, u.name)
				if err := os.Mkdir(hp, 0o700); err != nil {
					return err
				}
				if err := os.Chown(hp, u.id, u.id); err != nil {
					return err
				}
			}
		}
	}
	if err := os.Mkdir(filepath.Join(h.dir, "run"), 0o755); err != nil {
		return err
	}
	// createNamespaces binds the network namespace onto this file.
	f, err := os.OpenFile(filepath.Join(netnsDir, h.NetNS), os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("lab: %s: %w", h.Name, err)
	}
	f.Close()
	return h.createNamespaces(base)
}
