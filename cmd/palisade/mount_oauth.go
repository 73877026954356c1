package main

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/palisade-fedi/palisade/instance/oauth"
)

func init() { registerMount("oauth", mountOAuth, startOAuth) }

// startOAuth builds the OAuth 2 server (instance/oauth), sets n.oauth for
// the APIs mounted after it, and serves its routes on the public listener.
func startOAuth(_ context.Context, n *node, _ *http.ServeMux) (func(), error) {
	name := n.cfg.Instance.Name
	if name == "" {
		name = n.cfg.Host
	}
	var trusted []netip.Prefix
	for _, p := range n.cfg.Proxy.Trusted {
		pfx, _ := parsePrefix(p) // validated by Config.Validate
		trusted = append(trusted, pfx)
	}
	s, err := oauth.New(oauth.Options{
		Pool:     n.db.Pool(),
		Store:    n.data,
		BaseURL:  n.cfg.BaseURL(),
		Name:     name,
		Logger:   n.log.With("component", "oauth"),
		ClientIP: func(r *http.Request) string { return clientIP(r, trusted) },
	})
	if err != nil {
		return nil, err
	}
	n.oauth = s
	s.Register(n.public)
	return func() {}, nil
}

// clientIP is the address the sign-in rate limit counts: the peer, or,
// when the peer is a trusted reverse proxy, the last X-Forwarded-For entry
// that no trusted proxy added (earlier entries are the client's to forge).
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if len(trusted) == 0 || !isTrusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h != "" && !isTrusted(h) {
			return h
		}
	}
	return host
}
