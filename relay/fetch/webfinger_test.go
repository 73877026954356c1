package fetch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type mapGetter map[string]string

func (m mapGetter) FetchDocument(_ context.Context, id string) ([]byte, error) {
	if b, ok := m[id]; ok {
		return []byte(b), nil
	}
	return nil, errors.New("404 " + id)
}

func TestWebFinger(t *testing.T) {
	g := mapGetter{
		"https://social.example/.well-known/webfinger?resource=acct%3Aalice%40social.example": `{"subject":"acct:alice@social.example","links":[
			{"rel":"http://webfinger.net/rel/profile-page","type":"text/html","href":"https://social.example/@alice"},
			{"rel":"self","type":"application/activity+json","href":"https://social.example/users/alice"}]}`,
		"http://127.0.0.1:8080/.well-known/webfinger?resource=acct%3Abob%40127.0.0.1%3A8080": `{"links":[
			{"rel":"self","type":"application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"","href":"http://127.0.0.1:8080/users/bob"}]}`,
		"https://noactor.example/.well-known/webfinger?resource=acct%3Ax%40noactor.example": `{"links":[{"rel":"self","type":"text/html","href":"https://noactor.example/x"}]}`,
	}
	f := New(g)
	ctx := context.Background()
	for acct, want := range map[string]string{
		"alice@social.example":      "https://social.example/users/alice",
		"@alice@Social.Example":     "https://social.example/users/alice",
		"acct:alice@social.example": "https://social.example/users/alice",
	} {
		got, err := f.WebFinger(ctx, acct, "https")
		if err != nil || got != want {
			t.Errorf("WebFinger(%q) = %q, %v; want %q", acct, got, err, want)
		}
	}
	if got, err := f.WebFinger(ctx, "bob@127.0.0.1:8080", "http"); err != nil || got != "http://127.0.0.1:8080/users/bob" {
		t.Errorf("ld+json profile link: %q, %v", got, err)
	}
	if _, err := f.WebFinger(ctx, "x@noactor.example", "https"); !errors.Is(err, ErrNoActorLink) {
		t.Errorf("no actor link: %v", err)
	}
	for _, bad := range []string{"alice", "@social.example", "alice@", "a/b@host", "alice@host/x", ""} {
		if _, err := f.WebFinger(ctx, bad, "https"); err == nil || !strings.Contains(err.Error(), "not an account handle") {
			t.Errorf("WebFinger(%q): %v, want a handle error", bad, err)
		}
	}
	if _, err := f.WebFinger(ctx, "alice@social.example", "ftp"); err == nil {
		t.Error("scheme ftp accepted")
	}
	if _, err := f.WebFinger(ctx, "zed@social.example", "https"); err == nil || !strings.Contains(err.Error(), "zed@social.example") {
		t.Errorf("unreachable answer: %v", err)
	}
}

func FuzzParseWebFinger(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/webfinger/*.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"links":[{"rel":"self","type":"application/activity+json","href":"javascript:alert(1)"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		href, err := ParseWebFinger(b)
		if err == nil && !strings.HasPrefix(href, "https://") && !strings.HasPrefix(href, "http://") {
			t.Fatalf("accepted non-http href %q", href)
		}
	})
}
