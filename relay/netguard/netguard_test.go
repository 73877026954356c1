package netguard

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPermit(t *testing.T) {
	refused := []string{
		"127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1",
		"169.254.169.254", // cloud metadata
		"100.64.0.1", "0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.1", "240.0.0.1",
		"192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1",
		"::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1", "2001:db8::1",
		"::ffff:127.0.0.1", "::ffff:10.1.1.1", "::ffff:169.254.169.254", "::127.0.0.1",
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2001:0:4136:e378::1", "64:ff9b:1::1",
	}
	allowed := []string{"1.1.1.1", "93.184.215.14", "2606:4700::6810:85e5", "64:ff9b::101:101", "::ffff:8.8.8.8", "2002:808:808::1"}
	var g Guard
	for _, a := range refused {
		err := g.Permit(netip.MustParseAddr(a))
		if !errors.Is(err, ErrBlocked) {
			t.Errorf("Permit(%s) = %v, want refusal", a, err)
		}
	}
	for _, a := range allowed {
		if err := g.Permit(netip.MustParseAddr(a)); err != nil {
			t.Errorf("Permit(%s) = %v, want allowed", a, err)
		}
	}
	priv := Guard{AllowPrivate: true}
	for _, a := range []string{"127.0.0.1", "::1", "10.0.0.1", "fd00::1", "::ffff:192.168.0.1", "100.64.1.1"} {
		if err := priv.Permit(netip.MustParseAddr(a)); err != nil {
			t.Errorf("AllowPrivate: Permit(%s) = %v", a, err)
		}
	}
	for _, a := range []string{"0.0.0.0", "::", "224.0.0.1", "255.255.255.255"} {
		if err := priv.Permit(netip.MustParseAddr(a)); err == nil {
			t.Errorf("AllowPrivate: Permit(%s) allowed", a)
		}
	}
	one := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}
	if one.Permit(netip.MustParseAddr("10.9.1.1")) != nil || one.Permit(netip.MustParseAddr("10.8.1.1")) == nil {
		t.Error("Allow prefix not honoured exactly")
	}
}

func TestControlRefusesUDP(t *testing.T) {
	g := Guard{AllowPrivate: true}
	if err := g.Control("udp", "1.1.1.1:53", nil); err == nil {
		t.Fatal("udp allowed")
	}
}

func TestClientRefusesLoopbackByNameAndIP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) }))
	defer srv.Close()
	c := (&Guard{}).Client(5 * time.Second)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	// "localhost" resolves to loopback: the check is on the dialled address.
	for _, u := range []string{srv.URL, "http://localhost" + port + "/"} {
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s succeeded, want refusal", u)
		}
		if !errors.Is(err, ErrBlocked) {
			t.Fatalf("GET %s: %v, want ErrBlocked", u, err)
		}
	}
	resp, err := (&Guard{AllowPrivate: true}).Client(5 * time.Second).Get(srv.URL)
	if err != nil {
		t.Fatalf("AllowPrivate client: %v", err)
	}
	resp.Body.Close()
}

func TestClientRechecksRedirects(t *testing.T) {
	// The target listens on 127.0.0.2, which the guard does not allow.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	inner := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("internal")) }))
	inner.Listener.Close()
	inner.Listener = ln
	inner.Start()
	defer inner.Close()
	outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/admin", http.StatusFound)
	}))
	defer outer.Close()
	g := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	_, err = g.Client(5 * time.Second).Get(outer.URL)
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("redirect to a refused address: %v, want ErrBlocked", err)
	}
}

func TestClientRedirectLimit(t *testing.T) {
	hits := 0
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, srv.URL+"/again", http.StatusFound)
	}))
	defer srv.Close()
	_, err := (&Guard{AllowPrivate: true}).Client(5 * time.Second).Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("redirect loop: %v", err)
	}
	if hits != MaxRedirects+1 {
		t.Fatalf("server saw %d requests, want %d", hits, MaxRedirects+1)
	}
}

func TestClientIgnoresEnvironmentProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	resp, err := (&Guard{AllowPrivate: true}).Client(5 * time.Second).Get(srv.URL)
	if err != nil {
		t.Fatalf("request went to the environment proxy: %v", err)
	}
	resp.Body.Close()
}
