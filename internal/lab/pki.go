package lab

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"runtime"
	"sync"
	"time"
)

// The lab's PKI follows kubeadm v1.32's layout and key type (RSA-2048, the default
// encryptionAlgorithm), so that tools under test find what they would find on a
// kubeadm master.

// certKey is a certificate and its private key.
type certKey struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

func (c certKey) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

// keyPEM is PKCS#1, as kubeadm writes its keys ("RSA PRIVATE KEY").
func (c certKey) keyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(c.key)})
}

// certSpec describes a certificate to issue.
type certSpec struct {
	cn     string
	orgs   []string
	dns    []string
	ips    []net.IP
	server bool
	client bool
}

// keyPool generates RSA keys in parallel: one 2048-bit key costs ~50-200 ms and a
// cluster needs about 20.
type keyPool struct {
	keys chan *rsa.PrivateKey
	errc chan error
	stop chan struct{}
	wg   sync.WaitGroup
}

func newKeyPool(n int) *keyPool {
	p := &keyPool{keys: make(chan *rsa.PrivateKey, n), errc: make(chan error, n), stop: make(chan struct{})}
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	for range runtime.GOMAXPROCS(0) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for range work {
				select {
				case <-p.stop:
					return
				default:
				}
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					p.errc <- err
					continue
				}
				p.keys <- k
			}
		}()
	}
	return p
}

func (p *keyPool) get() (*rsa.PrivateKey, error) {
	select {
	case k := <-p.keys:
		return k, nil
	case err := <-p.errc:
		return nil, fmt.Errorf("generate RSA key: %w", err)
	}
}

// close stops the workers; keys not taken are dropped.
func (p *keyPool) close() {
	close(p.stop)
	go func() {
		for range p.keys { // unblock workers stuck on a full channel
		}
	}()
	p.wg.Wait()
	close(p.keys)
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
}

// newCA makes a self-signed CA valid for 10 years (kubeadm's caCertificateValidityPeriod).
func newCA(keys *keyPool, cn string) (certKey, error) {
	key, err := keys.get()
	if err != nil {
		return certKey{}, err
	}
	serial, err := randomSerial()
	if err != nil {
		return certKey{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-5 * time.Minute), // kubeadm backdates for clock skew too
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return certKey{}, fmt.Errorf("create CA %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return certKey{}, err
	}
	return certKey{cert: cert, key: key}, nil
}

// issue signs a leaf certificate valid for one year (kubeadm's certificateValidityPeriod).
func (ca certKey) issue(keys *keyPool, s certSpec) (certKey, error) {
	key, err := keys.get()
	if err != nil {
		return certKey{}, err
	}
	serial, err := randomSerial()
	if err != nil {
		return certKey{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: s.cn, Organization: s.orgs},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     s.dns,
		IPAddresses:  s.ips,
	}
	if s.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if s.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), crypto.Signer(ca.key))
	if err != nil {
		return certKey{}, fmt.Errorf("issue %s: %w", s.cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return certKey{}, err
	}
	return certKey{cert: cert, key: key}, nil
}

// kubeconfig is a kubeconfig with embedded credentials, in the shape kubeadm writes
// admin.conf.
func kubeconfig(ca certKey, server, cluster, user string, client certKey) []byte {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: %s
contexts:
- context:
    cluster: %[3]s
    user: %[4]s
  name: %[4]s@%[3]s
current-context: %[4]s@%[3]s
kind: Config
preferences: {}
users:
- name: %[4]s
  user:
    client-certificate-data: %[5]s
    client-key-data: %[6]s
`, b64(ca.certPEM()), server, cluster, user, b64(client.certPEM()), b64(client.keyPEM()))
}
