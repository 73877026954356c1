// Package socialtest gives tests of the instance's local side real parts to
// run against: local accounts with real RSA keys in a real Postgres
// (store/pg/pgtest), remote accounts whose inboxes are a loopback Sink that
// verifies every delivered request's HTTP signature against the sending
// local account's public key, and a real relay/delivery engine on a
// temporary Pebble store between the two.
package socialtest

import (
	"context"
	"crypto"
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
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/local"
)

// Quiet is a logger that drops everything.
var Quiet = slog.New(slog.DiscardHandler)

var (
	keyMu   sync.Mutex
	keyPool [][2]string        // RSA-2048 pairs generated so far
	keyNext = map[string]int{} // per test: how many it has taken
)

// KeyPair returns an RSA-2048 key pair as PEM (private PKCS#8, public
// PKIX). Within one test every call returns a different pair; across
// tests pairs are reused (the n-th call of each test gets the n-th pair),
// because generating them is most of these tests' CPU time.
func KeyPair(t testing.TB) (priv, pub string) {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	i := keyNext[t.Name()]
	keyNext[t.Name()] = i + 1
	for len(keyPool) <= i {
		priv, pub, err := accounts.GenerateKeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		keyPool = append(keyPool, [2]string{priv, pub})
	}
	return keyPool[i][0], keyPool[i][1]
}

// LocalAccount stores local account username of the instance at base with
// a fresh key, as instance/accounts would (without a login), and returns
// it.
func LocalAccount(t testing.TB, st *data.Store, base, username string, locked bool) *data.Account {
	t.Helper()
	priv, pub := KeyPair(t)
	u := accounts.URLsFor(base, username)
	a := &data.Account{
		URI: u.Actor, Username: username, URL: u.Profile, InboxURL: u.Inbox, SharedInboxURL: u.SharedInbox,
		OutboxURL: u.Outbox, FollowersURL: u.Followers, FollowingURL: u.Following, FeaturedURL: u.Featured,
		ActorType: "Person", PublicKeyPEM: pub, KeyID: u.KeyID, PrivateKeyPEM: priv, Locked: locked,
		DisplayName: username,
	}
	if err := st.InsertLocalAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

// RemoteAccount stores remote account username@domain whose actor id and
// inboxes are on sink: BASE/users/NAME, BASE/users/NAME/inbox, and the
// shared inbox BASE/inbox unless noShared. Its key is a real one, returned
// as PEM with the account so tests can sign as it.
func RemoteAccount(t testing.TB, st *data.Store, sink *Sink, domain, username string, noShared bool) (*data.Account, string) {
	t.Helper()
	priv, pub := KeyPair(t)
	actor := sink.URL() + "/users/" + username
	a := &data.Account{
		URI: actor, Username: username, Domain: domain, InboxURL: actor + "/inbox",
		FollowersURL: actor + "/followers", PublicKeyPEM: pub, KeyID: actor + "#main-key", ActorType: "Person",
	}
	if !noShared {
		a.SharedInboxURL = sink.URL() + "/inbox"
	}
	if _, err := st.UpsertRemoteAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a, priv
}

// Delivery is one request the sink received and verified.
type Delivery struct {
	Path  string
	KeyID string
	Body  []byte
	Doc   map[string]any
}

// Sink is a loopback server standing for remote inboxes. Every POST must
// carry a draft-cavage signature with a signed digest that verifies
// against the public key Keys returns for its keyId; verified deliveries
// are recorded, anything else fails the test. GETs are served from Docs.
type Sink struct {
	t   testing.TB
	srv *httptest.Server
	// Keys returns the public key for a keyId (the local account's).
	Keys func(keyID string) (crypto.PublicKey, error)

	mu   sync.Mutex
	got  []Delivery
	wake chan struct{}
	docs map[string][]byte
}

// NewSink starts a sink; keys resolves keyIds of local actors.
func NewSink(t testing.TB, keys func(keyID string) (crypto.PublicKey, error)) *Sink {
	s := &Sink{t: t, Keys: keys, wake: make(chan struct{}, 1), docs: map[string][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the sink's origin, http://127.0.0.1:PORT.
func (s *Sink) URL() string { return s.srv.URL }

// Serve makes the sink answer GET path with doc (an actor document, ...).
func (s *Sink) Serve(path string, doc []byte) {
	s.mu.Lock()
	s.docs[path] = doc
	s.mu.Unlock()
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		s.mu.Lock()
		doc, ok := s.docs[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/activity+json")
		w.Write(doc)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := s.verify(r, body); err != nil {
		s.t.Errorf("sink: delivery to %s refused: %v", r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		s.t.Errorf("sink: delivery to %s is not JSON: %v", r.URL.Path, err)
	}
	p, _ := signature.ParseRequest(sigRequest(r))
	s.mu.Lock()
	s.got = append(s.got, Delivery{Path: r.URL.Path, KeyID: p.KeyID, Body: body, Doc: doc})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusAccepted)
}

func sigRequest(r *http.Request) *signature.Request {
	return &signature.Request{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host,
		Header: func(name string) string { return strings.Join(r.Header.Values(name), ", ") }}
}

func (s *Sink) verify(r *http.Request, body []byte) error {
	sr := sigRequest(r)
	p, err := signature.ParseRequest(sr)
	if err != nil {
		return err
	}
	if err := signature.CheckHeaders(p, sr, signature.Checks{RequireDigest: true, Body: body}); err != nil {
		return err
	}
	pub, err := s.Keys(p.KeyID)
	if err != nil {
		return fmt.Errorf("key %s: %w", p.KeyID, err)
	}
	return signature.Verify(p, sr, pub)
}

// Wait returns the deliveries once at least n have arrived, failing the
// test after 10 s. It then waits 100 ms more and fails if more than n
// arrived (an activity sent twice, or to an inbox it should not reach).
func (s *Sink) Wait(n int) []Delivery {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.got)
		s.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-s.wake:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			s.t.Fatalf("sink: %d deliveries after 10s, want %d", got, n)
		}
	}
	time.Sleep(100 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) != n {
		for _, d := range s.got {
			s.t.Logf("delivered to %s: %s", d.Path, d.Body)
		}
		s.t.Fatalf("sink: %d deliveries, want exactly %d", len(s.got), n)
	}
	out := s.got
	s.got = nil
	return out
}

// StoreKeys resolves a keyId to the public key of the local account whose
// key it is, or to extra's entries (the instance actor's, for reports).
func StoreKeys(st *data.Store, extra map[string]crypto.PublicKey) func(string) (crypto.PublicKey, error) {
	return func(keyID string) (crypto.PublicKey, error) {
		if k, ok := extra[keyID]; ok {
			return k, nil
		}
		actor, _, _ := strings.Cut(keyID, "#")
		a, err := st.GetAccountByURI(context.Background(), actor)
		if err != nil {
			return nil, err
		}
		if a.KeyID != keyID {
			return nil, fmt.Errorf("keyId %s is not %s's key %s", keyID, actor, a.KeyID)
		}
		return ParsePublicPEM(a.PublicKeyPEM)
	}
}

// ParsePublicPEM parses a PKIX public key.
func ParsePublicPEM(p string) (crypto.PublicKey, error) {
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		return nil, fmt.Errorf("not PEM")
	}
	return x509.ParsePKIXPublicKey(b.Bytes)
}

// ParsePrivatePEM parses a PKCS#8 private key.
func ParsePrivatePEM(t testing.TB, p string) crypto.PrivateKey {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		t.Fatal("not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Engine starts a real delivery engine on a temporary Pebble store,
// signing with signer and allowed to reach loopback over http, and stops
// it when the test ends.
func Engine(t testing.TB, signer delivery.KeySource) *delivery.Engine {
	t.Helper()
	db, err := local.Open(t.TempDir(), local.Options{NoSync: true, Logger: Quiet})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := db.Jobs("delivery")
	if err != nil {
		t.Fatal(err)
	}
	e, err := delivery.New(delivery.Options{
		Jobs: jobs, Signer: signer, Client: (&netguard.Guard{AllowPrivate: true}).Client(10 * time.Second),
		AllowHTTP: true, Logger: Quiet, BackoffBase: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Run(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		e.Close()
		db.Close()
	})
	return e
}
