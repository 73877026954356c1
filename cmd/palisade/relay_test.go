package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// relayPeer is a simulated subscribing instance on loopback with a real
// key: it serves its actors, signs what it sends to the node's /inbox, and
// verifies every delivery it receives against the relay actor's key (read
// from the node's /actor, as a real peer does).
type relayPeer struct {
	t       *testing.T
	srv     *httptest.Server
	key     *rsa.PrivateKey
	actor   string // the subscribing actor
	relay   crypto.PublicKey
	mu      sync.Mutex
	got     []map[string]any
	refused []string
}

func newRelayPeer(t *testing.T, actorPath string) *relayPeer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &relayPeer{t: t, key: k}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := p.srv.URL
		switch {
		case r.Method == http.MethodGet && (r.URL.Path == actorPath || r.URL.Path == "/users/alice"):
			id := base + r.URL.Path
			w.Header().Set("Content-Type", "application/activity+json")
			json.NewEncoder(w).Encode(map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": id,
				"type": "Application", "inbox": id + "/inbox", "endpoints": map[string]string{"sharedInbox": base + "/inbox"},
				"publicKey": map[string]string{"id": id + "#main-key", "owner": id, "publicKeyPem": pubPEM}})
		case r.Method == http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			sr := &signature.Request{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host,
				Header: func(name string) string { return strings.Join(r.Header.Values(name), ", ") }}
			sp, err := signature.ParseRequest(sr)
			if err == nil {
				err = signature.CheckHeaders(sp, sr, signature.Checks{RequireDigest: true, Body: body})
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if err == nil {
				err = signature.Verify(sp, sr, p.relay)
			}
			if err != nil {
				p.refused = append(p.refused, err.Error())
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			var m map[string]any
			json.Unmarshal(body, &m)
			m["_path"] = r.URL.Path
			p.got = append(p.got, m)
			w.WriteHeader(http.StatusAccepted)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.srv.Close)
	p.actor = p.srv.URL + actorPath
	return p
}

func (p *relayPeer) received(typ string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, m := range p.got {
		if m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

// send signs body as keyOwner and POSTs it to the node's /inbox.
func (p *relayPeer) send(t *testing.T, node net.Addr, host, keyOwner string, body map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+node.String()+"/inbox", strings.NewReader(string(raw)))
	req.Host = host
	req.Header.Set("Content-Type", "application/activity+json")
	req.Header.Set("Digest", signature.DigestHeader(raw))
	if err := signature.Sign("POST", "/inbox", host, req.Header, keyOwner+"#main-key", p.key,
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
		t.Fatalf("POST %s to /inbox: %d, want 202", body["type"], resp.StatusCode)
	}
}

func TestServeRelaysBetweenMastodonAndLitePubSubscribers(t *testing.T) {
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
	cfg.Fed.AllowPrivateAddresses, cfg.Fed.AllowHTTP, cfg.Fed.Scheme = true, true, "http"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
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
	var pub, admin net.Addr
	select {
	case a := <-addrs:
		pub, admin = a[0], a[1]
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not become ready")
	}
	get := func(addr net.Addr, path, token string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr.String()+path, nil)
		req.Host = cfg.Host
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	// The relay actor, served by the public listener.
	code, body := get(pub, "/actor", "")
	var actor struct {
		ID, Type, Inbox string
		PublicKey       struct{ PublicKeyPem string }
	}
	if err := json.Unmarshal(body, &actor); err != nil || code != 200 {
		t.Fatalf("GET /actor: %d %s", code, body)
	}
	if actor.ID != "http://palisade.test/actor" || actor.Type != "Application" || actor.Inbox != "http://palisade.test/inbox" {
		t.Fatalf("actor %s", body)
	}
	b, _ := pem.Decode([]byte(actor.PublicKey.PublicKeyPem))
	relayPub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	masto := newRelayPeer(t, "/actor")
	lite := newRelayPeer(t, "/relay")
	masto.relay, lite.relay = relayPub, relayPub

	// Mastodon: Follow of as:Public, signed by its instance actor.
	mf := masto.actor + "#follows/1"
	masto.send(t, pub, cfg.Host, masto.actor, map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": mf, "type": "Follow", "actor": masto.actor, "object": activity.PublicCollection})
	// LitePub: Follow of the relay actor.
	lf := lite.actor + "/follows/1"
	lite.send(t, pub, cfg.Host, lite.actor, map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": lf, "type": "Follow", "actor": lite.actor, "object": actor.ID, "to": []string{actor.ID}})
	waitUntil(t, "both Accepts and the follow-back", func() bool {
		return len(masto.received("Accept")) == 1 && len(lite.received("Accept")) == 1 && len(lite.received("Follow")) == 1
	})
	if a := masto.received("Accept")[0]; a["_path"] != "/actor/inbox" || a["object"].(map[string]any)["id"] != mf {
		t.Errorf("Mastodon's Accept %v: want at its actor inbox, naming its Follow", a)
	}
	fb := lite.received("Follow")[0]
	lite.send(t, pub, cfg.Host, lite.actor, map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": lite.actor + "/accepts/1", "type": "Accept", "actor": lite.actor, "object": fb})

	// A public post by a Mastodon user, signed by the author's key, reaches
	// the LitePub subscriber as the relay's Announce.
	author := masto.srv.URL + "/users/alice"
	note := author + "/statuses/1"
	masto.send(t, pub, cfg.Host, author, map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": note + "/activity", "type": "Create", "actor": author, "to": []string{activity.PublicCollection},
		"object": map[string]any{"id": note, "type": "Note", "attributedTo": author, "content": "hi", "to": []string{activity.PublicCollection}}})
	waitUntil(t, "the Announce", func() bool { return len(lite.received("Announce")) == 1 })
	if a := lite.received("Announce")[0]; a["object"] != note || a["actor"] != actor.ID || a["_path"] != "/inbox" {
		t.Errorf("Announce %v", a)
	}

	// The admin API lists both, with the follow-back accepted.
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the follow-back Accept recorded", func() bool {
		_, body := get(admin, "/admin/v1/relay/subscribers", strings.TrimSpace(string(tok)))
		var out struct{ Subscribers []relaySubscriberView }
		json.Unmarshal(body, &out)
		return len(out.Subscribers) == 2 && out.Subscribers[0].State == "active" && out.Subscribers[1].State == "active" &&
			(out.Subscribers[0].FollowBackAccepted || out.Subscribers[1].FollowBackAccepted)
	})
	if code, _ := get(admin, "/admin/v1/relay/subscribers", ""); code != http.StatusUnauthorized {
		t.Errorf("subscribers without the token: %d, want 401", code)
	}
	code, body = get(pub, "/relay/subscribers.json", "")
	if code != 200 || !strings.Contains(string(body), `"count":2`) {
		t.Errorf("status JSON: %d %s", code, body)
	}
	_, metrics := get(admin, "/metrics", "")
	if !strings.Contains(string(metrics), `palisade_relay_subscribers{state="active"} 2`) {
		t.Error("metrics do not show 2 active subscribers")
	}

	// Mastodon unsubscribes.
	masto.send(t, pub, cfg.Host, masto.actor, map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": mf + "/undo", "type": "Undo", "actor": masto.actor,
		"object": map[string]any{"id": mf, "type": "Follow", "actor": masto.actor, "object": activity.PublicCollection}})
	waitUntil(t, "the unsubscription", func() bool {
		_, body := get(pub, "/relay/subscribers.json", "")
		return strings.Contains(string(body), `"count":1`)
	})
	// The CLI, as an admin runs it against this node.
	cliCfg := filepath.Join(t.TempDir(), "palisade.yaml")
	os.WriteFile(cliCfg, []byte(fmt.Sprintf("data_dir: %s\nlisten:\n  admin: %s\n", cfg.DataDir, admin)), 0o644)
	liteDomain := strings.TrimPrefix(lite.srv.URL, "http://")
	code, out := runCLI(t, "relay", "subscribers", "list", "--config", cliCfg)
	if code != 0 || !strings.Contains(out, liteDomain) || !strings.Contains(out, "1 active, 0 pending, 0 allowed, 0 blocked") {
		t.Errorf("relay subscribers list: %d %s", code, out)
	}
	if code, out = runCLI(t, "relay", "subscribers", "block", "spam.example", "--note", "spam relay", "--config", cliCfg); code != 0 || !strings.Contains(out, "blocked spam.example") {
		t.Errorf("block: %d %s", code, out)
	}
	if code, out = runCLI(t, "relay", "subscribers", "approve", "friend.example", "--config", cliCfg); code != 0 {
		t.Errorf("approve: %d %s", code, out)
	}
	if code, out = runCLI(t, "relay", "subscribers", "reject", "unknown.example", "--config", cliCfg); code == 0 || !strings.Contains(out, "not known to the relay") {
		t.Errorf("reject of an unknown domain: %d %s; want an error naming it", code, out)
	}
	if code, out = runCLI(t, "relay", "subscribers", "remove", liteDomain, "--config", cliCfg); code != 0 || !strings.Contains(out, "removed "+liteDomain) {
		t.Errorf("remove: %d %s", code, out)
	}
	// The removed LitePub relay is told: a Reject of its Follow and an
	// Undo of the relay's follow-back.
	waitUntil(t, "the goodbye to the removed subscriber", func() bool {
		return len(lite.received("Reject")) == 1 && len(lite.received("Undo")) == 1
	})
	code, out = runCLI(t, "relay", "subscribers", "list", "--json", "--config", cliCfg)
	var listed []relaySubscriberView
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || len(listed) != 2 ||
		listed[0].Domain != "friend.example" || listed[0].State != "allowed" || listed[1].State != "blocked" || listed[1].Note != "spam relay" {
		t.Errorf("list --json after the changes: %d %s", code, out)
	}
	for _, p := range []*relayPeer{masto, lite} {
		p.mu.Lock()
		if len(p.refused) > 0 {
			t.Errorf("%s refused deliveries: %v", p.actor, p.refused)
		}
		p.mu.Unlock()
	}
}

// waitUntil polls cond; the deadline only turns a hang into a failure.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
