package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// selfSigned writes a certificate for localhost and returns its paths.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// serve with TLS from certificate files answers inbox requests over HTTPS,
// exposes health, readiness and metrics on the admin listener, and returns
// cleanly when asked to stop.
func TestServeTLSHealthAndGracefulStop(t *testing.T) {
	dir := t.TempDir()
	cfg := Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen = ListenConfig{Public: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Log.Level = "warn"
	cfg.Database.URL = pgtest.URL(t)
	cfg.TLS.CertFile, cfg.TLS.KeyFile = selfSigned(t, dir)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, &serveHooks{ready: func(p, a net.Addr) { addrs <- [2]net.Addr{p, a} }})
	}()
	var pub, adm net.Addr
	select {
	case a := <-addrs:
		pub, adm = a[0], a[1]
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not become ready")
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get("http://" + adm.String() + path); code != 200 {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Post("https://"+pub.String()+"/inbox", "application/activity+json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatalf("TLS request: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "Signature") {
		t.Errorf("unsigned POST over TLS: %d %q, want 401 naming the missing signature", resp.StatusCode, body)
	}
	if _, err := http.Post("http://"+pub.String()+"/inbox", "application/activity+json", strings.NewReader(`{}`)); err == nil {
		t.Error("plain HTTP answered on a TLS listener")
	}
	_, metrics := get("http://" + adm.String() + "/metrics")
	for _, want := range []string{
		`palisade_ingress_requests_total{code="401",reason="missing_signature",stage="signature"} 1`,
		"palisade_queue_depth{queue=\"inbound\"} 0",
		"palisade_pg_pool_",
		"palisade_ingress_stage_duration_seconds_bucket",
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after stop", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestServeSetsItsGCTargetUnlessGOGCIsSet(t *testing.T) {
	before := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(before)
	debug.SetGCPercent(100)
	if got := applyGCDefault(func(string) string { return "" }); got != servingGCPercent {
		t.Fatalf("applyGCDefault without GOGC = %d, want %d", got, servingGCPercent)
	}
	if p := debug.SetGCPercent(55); p != servingGCPercent {
		t.Fatalf("collector target %d after the default, want %d", p, servingGCPercent)
	}
	// The operator's GOGC (here 55, as the runtime would have applied it) stays.
	env := func(k string) string {
		if k == "GOGC" {
			return "55"
		}
		return ""
	}
	if got := applyGCDefault(env); got != 55 {
		t.Fatalf("applyGCDefault with GOGC=55 = %d, want 55", got)
	}
	if p := debug.SetGCPercent(100); p != 55 {
		t.Fatalf("collector target %d, want the operator's 55", p)
	}
}
