package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// runServe starts serve with cfg and returns its admin address and a
// function that stops it and checks it returned cleanly.
func runServe(t *testing.T, cfg Config) (admin net.Addr, stop func()) {
	t.Helper()
	s := startServe(t, cfg)
	return s.admin, s.stop
}

// storedInstanceKeys returns the instance_keys rows named "instance".
func storedInstanceKeys(t *testing.T, url string) (privPEM, pubPEM []string) {
	t.Helper()
	ctx := context.Background()
	db, err := pg.Open(ctx, url, pg.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Pool().Query(ctx, `SELECT private_key_pem, public_key_pem FROM instance_keys WHERE name = 'instance'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		privPEM, pubPEM = append(privPEM, a), append(pubPEM, b)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return privPEM, pubPEM
}

// serve runs the delivery engine: the admin API shows its hosts behind the
// admin token, the node exports its metrics, and the instance actor's RSA
// key is generated once, stored in Postgres, and reused after a restart.
func TestServeRunsDeliveryWithAPersistentInstanceKey(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node twice")
	}
	dir := t.TempDir()
	cfg := Default()
	cfg.Host = "palisade.test"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen = ListenConfig{Public: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Log.Level = "warn"
	cfg.Database.URL = pgtest.URL(t)
	cfg.Fed.AllowPrivateAddresses, cfg.Fed.AllowHTTP = true, true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	adm, stop := runServe(t, cfg)
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	hostsURL := "http://" + adm.String() + "/admin/v1/delivery/hosts"
	get := func(url, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(hostsURL, ""); code != http.StatusUnauthorized {
		t.Errorf("hosts without the token: %d %q, want 401", code, body)
	}
	if code, body := get(hostsURL, "wrong"); code != http.StatusUnauthorized {
		t.Errorf("hosts with a wrong token: %d %q, want 401", code, body)
	}
	code, body := get(hostsURL, strings.TrimSpace(string(tok)))
	var hosts struct {
		Hosts []map[string]any `json:"hosts"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &hosts) != nil || hosts.Hosts == nil {
		t.Errorf("hosts with the token: %d %q, want 200 and {\"hosts\": [...]}", code, body)
	}
	if _, metrics := get("http://"+adm.String()+"/metrics", ""); !strings.Contains(metrics, "palisade_delivery_pending 0") {
		t.Error("/metrics lacks palisade_delivery_pending: the node does not run the delivery engine")
	}

	privs, pubs := storedInstanceKeys(t, cfg.Database.URL)
	if len(pubs) != 1 {
		t.Fatalf("%d instance keys stored after the first start, want 1", len(pubs))
	}
	// The stored pair is a real RSA-2048 pair whose halves match.
	pb, _ := pem.Decode([]byte(privs[0]))
	ub, _ := pem.Decode([]byte(pubs[0]))
	if pb == nil || ub == nil {
		t.Fatalf("stored key is not PEM:\n%s\n%s", privs[0], pubs[0])
	}
	priv, err := x509.ParsePKCS8PrivateKey(pb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(ub.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rk, ok := priv.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() != 2048 || !rk.PublicKey.Equal(pub) {
		t.Fatalf("stored instance key: %T, public half matches: %v; want RSA-2048 with its public key", priv, ok && rk.PublicKey.Equal(pub))
	}

	stop()
	adm, _ = runServe(t, cfg)
	if code, body := get("http://"+adm.String()+"/admin/v1/delivery/hosts", strings.TrimSpace(string(tok))); code != http.StatusOK {
		t.Errorf("hosts after restart: %d %q", code, body)
	}
	_, pubs2 := storedInstanceKeys(t, cfg.Database.URL)
	if len(pubs2) != 1 || pubs2[0] != pubs[0] {
		t.Fatalf("after a restart on the same database: %d keys, same public key %v; want the first key kept", len(pubs2), len(pubs2) == 1 && pubs2[0] == pubs[0])
	}
}

// The key resolver signs its fetches as the instance actor, so peers in
// authorized-fetch mode (which refuse unsigned GETs of actors and keys)
// still hand out their keys: the GET carries a signature by
// https://<host>/actor#main-key that verifies with the stored public key.
func TestServeSignsKeyFetchesAsTheInstanceActor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	dir := t.TempDir()
	cfg := Default()
	cfg.Host = "palisade.test"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen = ListenConfig{Public: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Log.Level = "error"
	cfg.Database.URL = pgtest.URL(t)
	cfg.Fed.AllowPrivateAddresses, cfg.Fed.AllowHTTP = true, true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	// A remote actor whose server records the key fetch.
	remoteKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	actorID := "http://" + ln.Addr().String() + "/users/bob"
	der, _ := x509.MarshalPKIXPublicKey(&remoteKey.PublicKey)
	doc, _ := json.Marshal(map[string]any{
		"@context":  []string{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"},
		"id":        actorID,
		"type":      "Person",
		"inbox":     actorID + "/inbox",
		"publicKey": map[string]string{"id": actorID + "#main-key", "owner": actorID, "publicKeyPem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
	})
	fetches := make(chan *http.Request, 10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case fetches <- r.Clone(context.Background()):
		default:
		}
		w.Header().Set("Content-Type", "application/activity+json")
		w.Write(doc)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, &serveHooks{ready: func(p, a net.Addr) { addrs <- [2]net.Addr{p, a} }})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v after stop", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	var pub net.Addr
	select {
	case a := <-addrs:
		pub = a[0]
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not become ready")
	}

	body := []byte(`{"@context":"https://www.w3.org/ns/activitystreams","id":"` + actorID + `/activities/1","type":"Create","actor":"` + actorID + `","object":{"id":"` + actorID + `/notes/1","type":"Note","content":"hello"}}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+pub.String()+"/inbox", strings.NewReader(string(body)))
	req.Host = cfg.Host
	req.Header.Set("Content-Type", "application/activity+json")
	req.Header.Set("Digest", signature.DigestHeader(body))
	if err := signature.Sign("POST", "/inbox", cfg.Host, req.Header, actorID+"#main-key", remoteKey,
		[]string{"(request-target)", "host", "date", "digest", "content-type"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("signed POST: %d, want 202 once the key is fetched", resp.StatusCode)
	}

	var fetch *http.Request
	select {
	case fetch = <-fetches:
	case <-time.After(30 * time.Second):
		t.Fatal("the node never fetched the remote key")
	}
	sreq := &signature.Request{Method: fetch.Method, RequestURI: fetch.RequestURI, Host: fetch.Host,
		Header: func(name string) string { return strings.Join(fetch.Header.Values(name), ", ") }}
	p, err := signature.ParseRequest(sreq)
	if err != nil {
		t.Fatalf("key fetch not signed: %v (headers %v)", err, fetch.Header)
	}
	if p.KeyID != "https://palisade.test/actor#main-key" {
		t.Errorf("key fetch signed by %q, want the instance actor's key https://palisade.test/actor#main-key", p.KeyID)
	}
	_, pubs := storedInstanceKeys(t, cfg.Database.URL)
	if len(pubs) != 1 {
		t.Fatalf("%d instance keys stored, want 1", len(pubs))
	}
	b, _ := pem.Decode([]byte(pubs[0]))
	instPub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := signature.Verify(p, sreq, instPub); err != nil {
		t.Errorf("the key fetch's signature does not verify with the stored instance key: %v", err)
	}
}
