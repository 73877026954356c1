package relayactor

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/inbound"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/local"
	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var (
	keyOnce  sync.Once
	relayKey *rsa.PrivateKey
	peerKey  *rsa.PrivateKey
)

// keys are real RSA-2048 keys, generated once for the package's tests.
func keys() (relay, peer *rsa.PrivateKey) {
	keyOnce.Do(func() {
		var err error
		if relayKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if peerKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return relayKey, peerKey
}

func pubPEM(k *rsa.PrivateKey) string {
	b, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: b}))
}

// testBase is the relay's base URL in tests: peers never fetch it (they
// are given the relay's public key), so it needs no server.
const testBase = "http://relay.test"

// received is one activity a peer accepted: its signature verified
// against the relay's key.
type received struct {
	Path string
	Body string
	Type string
	ID   string
	// Object is the object's id (or the string itself).
	Object string
	Actor  string
}

// peer is a simulated subscribing instance on loopback: Mastodon style
// (instance actor /actor, Follow of as:Public) or LitePub style (relay
// actor /relay, Follow of the relay actor). It serves its actor and
// NodeInfo, and its inboxes verify every POST's signature against the
// relay actor's key as a real server does.
type peer struct {
	t        testing.TB
	style    string
	srv      *httptest.Server
	base     string
	domain   string
	actorID  string
	relayPub crypto.PublicKey

	actorType string      // "Application" unless set
	down      atomic.Bool // answer 503 to every POST
	mu        sync.Mutex
	got       []received
	bad       []string
}

func newPeer(t testing.TB, style string) *peer {
	t.Helper()
	rk, pk := keys()
	p := &peer{t: t, style: style, relayPub: &rk.PublicKey}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, pk) }))
	t.Cleanup(p.srv.Close)
	p.base = p.srv.URL
	p.domain = strings.TrimPrefix(p.base, "http://")
	if style == "litepub" {
		p.actorID = p.base + "/relay"
	} else {
		p.actorID = p.base + "/actor"
	}
	return p
}

func (p *peer) serve(w http.ResponseWriter, r *http.Request, key *rsa.PrivateKey) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == strings.TrimPrefix(p.actorID, p.base):
		typ := p.actorType
		if typ == "" {
			typ = "Application"
		}
		w.Header().Set("Content-Type", "application/activity+json")
		json.NewEncoder(w).Encode(map[string]any{
			"@context": asContext, "id": p.actorID, "type": typ, "preferredUsername": "relay",
			"inbox": p.actorID + "/inbox", "endpoints": map[string]string{"sharedInbox": p.base + "/inbox"},
			"publicKey": map[string]string{"id": p.actorID + "#main-key", "owner": p.actorID, "publicKeyPem": pubPEM(key)},
		})
	case r.Method == http.MethodGet && r.URL.Path == "/.well-known/nodeinfo":
		json.NewEncoder(w).Encode(map[string]any{"links": []map[string]string{
			{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": p.base + "/nodeinfo/2.0"},
			{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": p.base + "/nodeinfo/2.1"},
		}})
	case r.Method == http.MethodGet && r.URL.Path == "/nodeinfo/2.1":
		name, version := "mastodon", "4.3.2"
		if p.style == "litepub" {
			name, version = "akkoma", "3.13.2"
		}
		json.NewEncoder(w).Encode(map[string]any{"version": "2.1", "software": map[string]string{"name": name, "version": version}})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/inbox"):
		body, _ := io.ReadAll(r.Body)
		if p.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		sr := &signature.Request{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host,
			Header: func(name string) string { return strings.Join(r.Header.Values(name), ", ") }}
		sp, err := signature.ParseRequest(sr)
		if err == nil {
			err = signature.CheckHeaders(sp, sr, signature.Checks{RequireDigest: true, Body: body})
		}
		if err == nil {
			err = signature.Verify(sp, sr, p.relayPub)
		}
		if err == nil && sp.KeyID != testBase+"/actor#main-key" {
			err = fmt.Errorf("keyId %q, want the relay actor's", sp.KeyID)
		}
		env, perr := activity.Parse(body)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil || perr != nil {
			p.bad = append(p.bad, fmt.Sprintf("%s: signature %v, parse %v", r.URL.Path, err, perr))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		p.got = append(p.got, received{Path: r.URL.Path, Body: string(body), Type: env.Type, ID: env.ID, Object: env.Object, Actor: env.Actor})
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// received returns what arrived of type typ, in arrival order.
func (p *peer) received(typ string) []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []received
	for _, g := range p.got {
		if g.Type == typ {
			out = append(out, g)
		}
	}
	return out
}

func (p *peer) check() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.bad {
		p.t.Errorf("peer %s refused a delivery: %s", p.domain, b)
	}
}

// harness is a relay over real stores: Postgres (pgtest), the Pebble
// inbound queue and delivery jobs, and the real delivery engine signing
// with the relay key. push appends what the ingress would have queued.
type harness struct {
	t     testing.TB
	db    *pg.DB
	local *local.DB
	q     *local.Queue
	eng   *delivery.Engine
	jobs  *local.Jobs
	r     *Relay
	reg   *prometheus.Registry
	seq   atomic.Int64
}

func newHarness(t testing.TB, mutate func(*Options)) *harness {
	t.Helper()
	rk, _ := keys()
	h := &harness{t: t, db: pgtest.New(t), reg: prometheus.NewRegistry()}
	var err error
	if h.local, err = local.Open(t.TempDir(), local.Options{NoSync: true, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if h.q, err = h.local.Queue("inbound"); err != nil {
		t.Fatal(err)
	}
	jobs, err := h.local.Jobs("delivery")
	if err != nil {
		t.Fatal(err)
	}
	h.jobs = jobs
	client := (&netguard.Guard{AllowPrivate: true}).Client(10 * time.Second)
	h.eng, err = delivery.New(delivery.Options{
		Jobs:   jobs,
		Client: client,
		Signer: func(actor string) (string, crypto.PrivateKey, error) {
			if actor != testBase+"/actor" {
				return "", nil, fmt.Errorf("no key for %s", actor)
			}
			return actor + "#main-key", rk, nil
		},
		AllowHTTP:        true,
		BackoffBase:      5 * time.Millisecond,
		BackoffMax:       40 * time.Millisecond,
		UnavailableAfter: 1000,
		Registerer:       h.reg,
		Logger:           quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		BaseURL:      testBase,
		PublicKeyPEM: pubPEM(rk),
		DB:           h.db,
		Queue:        h.q,
		Sender:       h.eng,
		Client:       client,
		AllowHTTP:    true,
		StatusPage:   true,
		Registerer:   h.reg,
		Logger:       quiet,
		HealthEvery:  50 * time.Millisecond,
	}
	o.DropDeliveries = h.eng.DropHostOf
	if mutate != nil {
		mutate(&o)
	}
	if h.r, err = New(o); err != nil {
		t.Fatal(err)
	}
	h.eng.Observe(h.r.Observe)
	ctx, cancel := contextWithCancel(t)
	if err := h.eng.Run(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.r.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		h.eng.Close()
		h.local.Close()
	})
	return h
}

// push appends an activity to the inbound queue as the ingress does after
// verifying it, with the policy's decision.
func (h *harness) push(actor, typ, objectID string, action policy.Action, body map[string]any) string {
	h.t.Helper()
	id, _ := body["id"].(string)
	if id == "" {
		id = fmt.Sprintf("%s/activities/%d", actor, h.seq.Add(1))
		body["id"] = id
	}
	body["type"], body["actor"] = typ, actor
	if _, ok := body["@context"]; !ok {
		body["@context"] = asContext
	}
	raw, _ := json.Marshal(body)
	dom, _ := activity.Host(actor)
	rec := policy.Record{At: time.Now(), ActivityID: id, Actor: actor, Domain: dom, Action: action}
	dec, err := rec.MarshalBinary()
	if err != nil {
		h.t.Fatal(err)
	}
	e := inbound.Entry{Received: time.Now(), Inbox: "/inbox", ActivityID: id, Type: typ, Actor: actor,
		ObjectID: objectID, KeyID: actor + "#main-key", Decision: dec, Body: raw}
	if _, err := h.q.Append(e.Marshal(nil)); err != nil {
		h.t.Fatal(err)
	}
	return id
}

// follow sends p's subscription Follow and returns its id.
func (h *harness) follow(p *peer) string {
	obj := activity.PublicCollection
	if p.style == "litepub" {
		obj = testBase + "/actor"
	}
	return h.push(p.actorID, "Follow", obj, policy.Accept, map[string]any{"object": obj})
}

// post pushes a public Create of a new Note by a user of p.
func (h *harness) post(p *peer, n int, extra map[string]any) string {
	author := p.base + "/users/alice"
	obj := fmt.Sprintf("%s/statuses/%d", author, n)
	note := map[string]any{"id": obj, "type": "Note", "attributedTo": author, "content": "post", "to": []string{activity.PublicCollection}}
	for k, v := range extra {
		note[k] = v
	}
	h.push(author, "Create", obj, policy.Accept, map[string]any{"id": obj + "/activity", "object": note,
		"to": []string{activity.PublicCollection}, "cc": []string{author + "/followers"}})
	return obj
}

func (h *harness) row(domain string) (pg.RelaySubscriber, bool) {
	s, err := h.db.RelaySubscriber(h.t.Context(), domain)
	return s, err == nil
}

// waitFor polls cond. The deadline only turns a hang into a failure; no
// test asserts on how fast anything happens.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
