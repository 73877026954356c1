package fetch_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/relay/fetch"
	"github.com/palisade-fedi/palisade/relay/keys"
	"github.com/palisade-fedi/palisade/relay/netguard"
)

// server serves documents by path; {{BASE}} in a document is replaced by
// the server's URL.
func server(t *testing.T, docs map[string]string, hits *atomic.Int64) string {
	t.Helper()
	var base string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		d, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/activity+json")
		w.Write([]byte(strings.ReplaceAll(d, "{{BASE}}", base)))
	}))
	t.Cleanup(srv.Close)
	base = srv.URL
	return base
}

func resolver(guard *netguard.Guard, allowed func(string) bool) *keys.Resolver {
	return keys.New(keys.Options{Client: guard.Client(5 * time.Second), AllowHTTP: true, Allowed: allowed, MaxBody: 4096})
}

func TestFetch(t *testing.T) {
	var hits atomic.Int64
	base := server(t, map[string]string{
		"/users/a":   `{"id":"{{BASE}}/users/a","type":"Person","preferredUsername":"a","inbox":"{{BASE}}/users/a/inbox"}`,
		"/notes/1":   `{"id":"{{BASE}}/notes/1","type":"Note","attributedTo":"{{BASE}}/users/a","content":"hi"}`,
		"/notes/lie": `{"id":"{{BASE}}/notes/other","type":"Note","attributedTo":"{{BASE}}/users/a","content":"hi"}`,
		"/notes/far": `{"id":"{{BASE}}/notes/far","type":"Note","attributedTo":"https://elsewhere.example/users/b"}`,
		"/big":       `{"id":"{{BASE}}/big","type":"Note","content":"` + strings.Repeat("x", 5000) + `"}`,
	}, &hits)
	ctx := context.Background()
	f := fetch.New(resolver(&netguard.Guard{AllowPrivate: true}, nil))

	a, err := f.Actor(ctx, base+"/users/a#main-key")
	if err != nil || a.PreferredUsername != "a" {
		t.Fatalf("Actor = %+v, %v", a, err)
	}
	o, err := f.Object(ctx, base+"/notes/1")
	if err != nil || o.Content != "hi" {
		t.Fatalf("Object = %+v, %v", o, err)
	}
	if _, err := f.Object(ctx, base+"/users/a"); !errors.Is(err, fetch.ErrWrongType) {
		t.Errorf("a Person as object: err = %v, want ErrWrongType", err)
	}
	if _, err := f.Object(ctx, base+"/notes/lie"); !errors.Is(err, fetch.ErrNotAuthoritative) {
		t.Errorf("id mismatch: err = %v, want ErrNotAuthoritative", err)
	}
	if _, err := f.Object(ctx, base+"/notes/far"); !errors.Is(err, fetch.ErrNotAuthoritative) {
		t.Errorf("foreign author: err = %v, want ErrNotAuthoritative", err)
	}
	if _, err := f.Object(ctx, base+"/big"); err == nil || !strings.Contains(err.Error(), "cap") {
		t.Errorf("over the size cap: err = %v", err)
	}
	if _, err := f.Object(ctx, base+"/nothing"); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("404: err = %v, want keys.ErrNotFound", err)
	}

	// The domain gate refuses before anything is sent.
	before := hits.Load()
	blocked := fetch.New(resolver(&netguard.Guard{AllowPrivate: true}, func(string) bool { return false }))
	if _, err := blocked.Object(ctx, base+"/notes/1"); !errors.Is(err, keys.ErrBlocked) {
		t.Errorf("blocked domain: err = %v, want keys.ErrBlocked", err)
	}
	// The SSRF guard refuses loopback unless allowed.
	guarded := fetch.New(resolver(&netguard.Guard{}, nil))
	if _, err := guarded.Object(ctx, base+"/notes/1"); !errors.Is(err, netguard.ErrBlocked) {
		t.Errorf("loopback without AllowPrivate: err = %v, want netguard.ErrBlocked", err)
	}
	if hits.Load() != before {
		t.Errorf("refused fetches reached the server (%d requests)", hits.Load()-before)
	}
}

func FuzzParseObject(f *testing.F) {
	f.Add([]byte(`{"id":"https://a.example/n/1","type":"Note","attributedTo":"https://a.example/u/a"}`), "https://a.example/n/1")
	f.Add([]byte(`{"id":"https://a.example/u/a","type":"Person","inbox":"https://a.example/i"}`), "https://a.example/u/a#k")
	f.Fuzz(func(t *testing.T, body []byte, id string) {
		if o, err := fetch.ParseObject(body, id); err == nil {
			if o.AttributedTo == "" || o.ID == "" {
				t.Fatalf("accepted object without id or author: %+v", o)
			}
		}
		if a, err := fetch.ParseActor(body, id); err == nil && a.ID == "" {
			t.Fatalf("accepted actor without id: %+v", a)
		}
	})
}
