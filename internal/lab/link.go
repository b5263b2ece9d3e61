package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Links are veth pairs between two hosts' network namespaces: real IPv4 traffic between
// lab hosts (forwarders, NAT, firewalls), which loopback-only hosts cannot carry. They
// are made with rtnetlink from Go, on a throwaway thread in a host's network namespace
// (see ns.go), rather than with ip(8): no process per step, and a link is up in well
// under a millisecond of kernel work.
//
// Addresses come from 198.18.0.0/15 (RFC 2544, benchmarking: never routed on the
// internet), one /24 per link in creation order: link N of a lab is 198.18.N.0/24
// (198.19.(N-256).0/24 from N = 256 on), with .1 on the first host and .2 on the
// second. They exist only inside the lab's own namespaces, so two labs running at the
// same time can, and do, use the same ones.

// LinkNet is the range link addresses come from.
var LinkNet = netip.MustParsePrefix("198.18.0.0/15")

// MaxLinks is the number of links a lab can have (the /24s in LinkNet).
const MaxLinks = 512

// LinkInfo is a link between two lab hosts.
type LinkInfo struct {
	A, B         *Host
	AName, BName string       // interface names in A and B: "eth0", "eth1", ... (per host, in creation order)
	AAddr, BAddr netip.Addr   // 198.18.N.1 (on A), 198.18.N.2 (on B)
	Prefix       netip.Prefix // 198.18.N.0/24
}

// Addr is h's address on the link (the zero Addr if h is on neither end).
func (li *LinkInfo) Addr(h *Host) netip.Addr {
	switch h {
	case li.A:
		return li.AAddr
	case li.B:
		return li.BAddr
	}
	return netip.Addr{}
}

// Peer is the address of the other end of the link, seen from h (the zero Addr if h
// is on neither end).
func (li *LinkInfo) Peer(h *Host) netip.Addr {
	switch h {
	case li.A:
		return li.BAddr
	case li.B:
		return li.AAddr
	}
	return netip.Addr{}
}

// linkState is a lab's links (Lab.net). Its zero value is a lab without any.
type linkState struct {
	mu     sync.Mutex
	links  []*LinkInfo
	nextIf map[*Host]int // next ethN per host
	hooked bool          // the stop hook that deletes the links is registered
}

// Link connects a and b (distinct hosts of this lab) with a veth pair: interface
// AName in a with AAddr/24, BName in b with BAddr/24, both up. Each host then reaches
// the other's address directly; nothing else routes between them (set routes with
// AddRoute or SetDefaultRoute). Stop deletes the links.
func (l *Lab) Link(a, b *Host) (*LinkInfo, error) {
	if a == nil || b == nil || a.lab != l || b.lab != l || a == b {
		return nil, errors.New("lab: Link: want two distinct hosts of this lab")
	}
	// As startIn: Stop waits for links being made, so that its hook sees them all.
	l.startMu.RLock()
	defer l.startMu.RUnlock()
	if l.isStopped() {
		return nil, errStopped
	}
	s := &l.links
	s.mu.Lock()
	defer s.mu.Unlock() // links are made one at a time: names and addresses stay in order
	if !s.hooked {
		if err := l.onStop(l.deleteLinks); err != nil {
			return nil, err
		}
		s.hooked = true
	}
	n := len(s.links)
	if n >= MaxLinks {
		return nil, fmt.Errorf("lab: Link: a lab has at most %d links", MaxLinks)
	}
	if s.nextIf == nil {
		s.nextIf = map[*Host]int{}
	}
	base := LinkNet.Addr().As4()
	base[1] += byte(n / 256)
	base[2] = byte(n % 256)
	li := &LinkInfo{
		A: a, B: b,
		AName:  fmt.Sprintf("eth%d", s.nextIf[a]),
		BName:  fmt.Sprintf("eth%d", s.nextIf[b]),
		Prefix: netip.PrefixFrom(netip.AddrFrom4(base), 24),
	}
	base[3] = 1
	li.AAddr = netip.AddrFrom4(base)
	base[3] = 2
	li.BAddr = netip.AddrFrom4(base)

	err := a.netlink(func(c *nlConn) error {
		// The veth is made in a; its peer is made in b (IFLA_NET_NS_FD).
		peer := append(ifInfomsg(0, 0, 0), nlAttr(unix.IFLA_IFNAME, cString(li.BName))...)
		peer = append(peer, nlAttr(unix.IFLA_NET_NS_FD, u32(uint32(b.ns.net.Fd())))...)
		body := append(ifInfomsg(0, 0, 0), nlAttr(unix.IFLA_IFNAME, cString(li.AName))...)
		body = append(body, nlNested(unix.IFLA_LINKINFO,
			nlAttr(unix.IFLA_INFO_KIND, []byte("veth")),
			nlNested(unix.IFLA_INFO_DATA, nlAttr(vethInfoPeer, peer)),
		)...)
		if err := c.request(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body); err != nil {
			return fmt.Errorf("create veth %s (peer %s in %s): %w", li.AName, li.BName, b.Name, err)
		}
		return c.addrUp(li.AName, li.AAddr, 24)
	})
	if err == nil {
		err = b.netlink(func(c *nlConn) error { return c.addrUp(li.BName, li.BAddr, 24) })
	}
	// A failed link still counts: its names and addresses are not handed out again
	// (a half-made veth may hold them) and Stop deletes whatever is left of it.
	s.nextIf[a]++
	s.nextIf[b]++
	s.links = append(s.links, li)
	if err != nil {
		return nil, fmt.Errorf("lab: link %s-%s: %w", a.Name, b.Name, err)
	}
	return li, nil
}

// Links are the lab's links, in creation order.
func (l *Lab) Links() []*LinkInfo {
	l.links.mu.Lock()
	defer l.links.mu.Unlock()
	return append([]*LinkInfo(nil), l.links.links...)
}

// deleteLinks deletes every link (the stop hook). A veth would also go with its
// network namespace, but only once the kernel gets round to destroying that, and not
// at all while something still holds the namespace open.
func (l *Lab) deleteLinks() error {
	l.links.mu.Lock()
	links := l.links.links
	l.links.mu.Unlock()
	var errs []error
	for _, li := range links {
		err := li.A.netlink(func(c *nlConn) error {
			// Deleting one end deletes the pair.
			return c.request(unix.RTM_DELLINK, 0, append(ifInfomsg(0, 0, 0), nlAttr(unix.IFLA_IFNAME, cString(li.AName))...))
		})
		if err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("lab: delete link %s:%s: %w", li.A.Name, li.AName, err))
		}
	}
	return errors.Join(errs...)
}

// AddRoute adds (or replaces) the route to dst via the gateway via in the host's main
// routing table; via must be on one of the host's links (e.g. the peer's address).
func (h *Host) AddRoute(dst netip.Prefix, via netip.Addr) error {
	if !dst.IsValid() || !dst.Addr().Is4() || !via.Is4() {
		return fmt.Errorf("lab: %s: route %v via %v: IPv4 only", h.Name, dst, via)
	}
	dst = dst.Masked()
	err := h.netlink(func(c *nlConn) error {
		rt := []byte{
			unix.AF_INET, byte(dst.Bits()), 0, 0, // family, dst_len, src_len, tos
			unix.RT_TABLE_MAIN, unix.RTPROT_STATIC, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST,
			0, 0, 0, 0, // flags
		}
		if dst.Bits() > 0 {
			a := dst.Addr().As4()
			rt = append(rt, nlAttr(unix.RTA_DST, a[:])...)
		}
		g := via.As4()
		rt = append(rt, nlAttr(unix.RTA_GATEWAY, g[:])...)
		return c.request(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, rt)
	})
	if err != nil {
		return fmt.Errorf("lab: %s: route %v via %v: %w", h.Name, dst, via, err)
	}
	return nil
}

// SetDefaultRoute sets the host's default route (replacing any) via the gateway via,
// which must be on one of the host's links.
func (h *Host) SetDefaultRoute(via netip.Addr) error {
	return h.AddRoute(netip.PrefixFrom(netip.IPv4Unspecified(), 0), via)
}

// netlink runs fn with an rtnetlink socket of the host's network namespace.
func (h *Host) netlink(fn func(c *nlConn) error) error {
	return h.inNetNS(func() error {
		c, err := openNetlink()
		if err != nil {
			return err
		}
		defer c.close()
		return fn(c)
	})
}

// vethInfoPeer is VETH_INFO_PEER (linux/veth.h).
const vethInfoPeer = 1

// nlConn is an rtnetlink socket; it acts in the network namespace of the thread that
// opened it.
type nlConn struct {
	fd  int
	seq uint32
}

func openNetlink() (*nlConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &nlConn{fd: fd}, nil
}

func (c *nlConn) close() { unix.Close(c.fd) }

// request sends one request and waits for its acknowledgement: nil, or the kernel's
// errno.
func (c *nlConn) request(typ uint16, flags uint16, body []byte) error {
	c.seq++
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(unix.NLMSG_HDRLEN+len(body)))
	ne.PutUint16(msg[4:], typ)
	ne.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	ne.PutUint32(msg[8:], c.seq)
	msg = append(msg, body...)
	if err := unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(ne.Uint32(b[0:]))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return errors.New("netlink: malformed reply")
			}
			if ne.Uint16(b[4:]) == unix.NLMSG_ERROR && ne.Uint32(b[8:]) == c.seq {
				if l < unix.NLMSG_HDRLEN+4 {
					return errors.New("netlink: short error reply")
				}
				if e := int32(ne.Uint32(b[unix.NLMSG_HDRLEN:])); e != 0 {
					return syscall.Errno(-e)
				}
				return nil
			}
			b = b[min(nlAlign(l), len(b)):]
		}
	}
}

// addrUp gives the interface called name the address addr/bits and brings it up.
func (c *nlConn) addrUp(name string, addr netip.Addr, bits int) error {
	// Called on the thread that opened c: net looks the name up in the same namespace.
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return err
	}
	a := addr.As4()
	body := []byte{unix.AF_INET, byte(bits), 0, unix.RT_SCOPE_UNIVERSE, 0, 0, 0, 0}
	ne := binary.NativeEndian
	ne.PutUint32(body[4:], uint32(ifc.Index))
	body = append(body, nlAttr(unix.IFA_LOCAL, a[:])...)
	body = append(body, nlAttr(unix.IFA_ADDRESS, a[:])...)
	if err := c.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body); err != nil {
		return fmt.Errorf("add %v/%d to %s: %w", addr, bits, name, err)
	}
	if err := c.request(unix.RTM_NEWLINK, 0, ifInfomsg(int32(ifc.Index), unix.IFF_UP, unix.IFF_UP)); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// ifInfomsg is a struct ifinfomsg (family AF_UNSPEC).
func ifInfomsg(index int32, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	ne := binary.NativeEndian
	ne.PutUint32(b[4:], uint32(index))
	ne.PutUint32(b[8:], flags)
	ne.PutUint32(b[12:], change)
	return b
}

func nlAlign(n int) int { return (n + 3) &^ 3 }

// nlAttr is one netlink attribute, padded to 4 bytes.
func nlAttr(typ uint16, data []byte) []byte {
	b := make([]byte, 4, nlAlign(4+len(data)))
	binary.NativeEndian.PutUint16(b[0:], uint16(4+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, data...)
	return append(b, make([]byte, nlAlign(len(b))-len(b))...)
}

func nlNested(typ uint16, children ...[]byte) []byte {
	var data []byte
	for _, c := range children {
		data = append(data, c...)
	}
	return nlAttr(typ|unix.NLA_F_NESTED, data)
}

func cString(s string) []byte { return append([]byte(s), 0) }

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
