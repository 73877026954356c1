// Package netguard keeps outbound fetches (actor keys, remote objects,
// deliveries) from reaching addresses that are not on the public internet:
// the classic SSRF through an attacker-chosen keyId or inbox URL.
//
// The check runs in net.Dialer.Control, on the address actually being
// dialled after DNS resolution, so a hostname that resolves to 127.0.0.1 (or
// re-resolves to it later, DNS rebinding) is refused as surely as a literal
// IP, and every redirect hop is checked when it dials.
package netguard

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrBlocked is wrapped by every refusal of a destination address.
var ErrBlocked = errors.New("netguard: destination address is not a public internet address")

// Guard decides which addresses outbound connections may reach. The zero
// value refuses everything that is not public unicast.
type Guard struct {
	// AllowPrivate permits loopback, private (RFC 1918, ULA), link-local
	// and CGNAT destinations: for tests and for deployments whose peers are
	// on a private network. Unspecified, multicast and broadcast addresses
	// stay refused.
	AllowPrivate bool
	// Allow lists prefixes permitted even though they are not public, e.g.
	// a sidecar proxy. It is consulted before every other rule.
	Allow []netip.Prefix
}

// Non-public ranges that netip's predicates do not cover.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and 255.255.255.255
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001::/32"),       // Teredo: tunnels to arbitrary IPv4
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// cgnat is shared address space (RFC 6598), opened by AllowPrivate.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Prefixes whose IPv6 address embeds an IPv4 destination, which is checked
// in turn: NAT64 (RFC 6052) and 6to4 (RFC 3056).
var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixto4 = netip.MustParsePrefix("2002::/16")
)

// Permit returns nil when ip may be dialled, or an error wrapping
// ErrBlocked that names the address and why.
func (g *Guard) Permit(ip netip.Addr) error {
	ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return nil
		}
	}
	switch {
	case !ip.IsValid():
		return blocked(ip, "invalid address")
	case ip.IsUnspecified():
		return blocked(ip, "unspecified address")
	case ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return blocked(ip, "multicast or broadcast address")
	}
	if ip.Zone() != "" {
		ip = ip.WithZone("")
	}
	if nat64.Contains(ip) || sixto4.Contains(ip) {
		b := ip.As16()
		var v4 netip.Addr
		if nat64.Contains(ip) {
			v4 = netip.AddrFrom4([4]byte(b[12:16]))
		} else {
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if err := g.Permit(v4); err != nil {
			return blocked(ip, "embeds the non-public IPv4 address "+v4.String())
		}
		return nil
	}
	private := ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || cgnat.Contains(ip)
	if private {
		if g.AllowPrivate {
			return nil
		}
		return blocked(ip, "loopback, private, link-local or CGNAT address")
	}
	for _, p := range special {
		if p.Contains(ip) {
			return blocked(ip, "reserved range "+p.String())
		}
	}
	if !ip.IsGlobalUnicast() {
		return blocked(ip, "not a global unicast address")
	}
	return nil
}

func blocked(ip netip.Addr, why string) error {
	return &BlockedError{Addr: ip, Why: why}
}

// BlockedError is a refused destination; errors.Is(err, ErrBlocked) holds.
type BlockedError struct {
	Addr netip.Addr
	Why  string
}

func (e *BlockedError) Error() string {
	return "netguard: refusing to connect to " + e.Addr.String() + " (" + e.Why +
		"); set AllowPrivate or Allow if this peer is meant to be reachable"
}

func (e *BlockedError) Unwrap() error { return ErrBlocked }

// Control is a net.Dialer Control function: it refuses the connection
// unless the resolved destination address passes Permit. Only TCP is
// allowed.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return errors.New("netguard: refusing network " + network + " (only TCP is dialled)")
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return errors.New("netguard: cannot parse dial address " + address + ": " + err.Error())
	}
	return g.Permit(ap.Addr())
}

// MaxRedirects is how many redirects Client follows.
const MaxRedirects = 5

// Client returns an HTTP client whose every connection goes through
// Control: redirects are followed at most MaxRedirects times, only to http
// or https, never from https down to http, and each hop's connection is
// checked when it dials. Proxies from the environment are ignored (a proxy
// would dial on our behalf, past the guard). timeout bounds the whole
// exchange including reading the body.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{
		Timeout:   min(timeout, 10*time.Second),
		KeepAlive: 30 * time.Second,
		Control:   g.Control,
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    16, // the delivery engine runs 8 requests per host at once
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    min(timeout, 10*time.Second),
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return errors.New("netguard: stopped after " + itoa(MaxRedirects) + " redirects")
			}
			if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
				return errors.New("netguard: refusing redirect to scheme " + req.URL.Scheme)
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme == "http" {
				return errors.New("netguard: refusing redirect from https to http")
			}
			return nil
		},
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
