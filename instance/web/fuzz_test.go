package web_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/palisade-fedi/palisade/instance/web"
)

// FuzzParseResource: WebFinger's resource parameter is the first untrusted
// input a peer sends. Whatever it is, the parser must not panic, must
// refuse with one of its two errors, and anything it accepts must name a
// username this server could have given out (or the instance actor) and
// parse back to the same thing in acct: form.
func FuzzParseResource(f *testing.F) {
	for _, s := range []string{
		"acct:alice@palisade.test", "alice@palisade.test", "@alice@palisade.test", "acct:relay@palisade.test",
		"acct:palisade.test@palisade.test", "http://palisade.test/users/alice", "https://PALISADE.test/@alice",
		"http://palisade.test/actor", "acct:alice@other.example", "acct:a@b@palisade.test", "acct:", "",
		"http://user:pw@palisade.test/users/alice", "http://palisade.test:8080/users/x", "acct:ali ce@palisade.test",
	} {
		f.Add(s, "http://palisade.test")
	}
	f.Add("acct:bob@127.0.0.1:8080", "http://127.0.0.1:8080")
	f.Fuzz(func(t *testing.T, resource, base string) {
		r, err := web.ParseResource(resource, base)
		if err != nil {
			if !errors.Is(err, web.ErrBadResource) && !errors.Is(err, web.ErrOtherHost) {
				t.Fatalf("ParseResource(%q): unexpected error %v", resource, err)
			}
			return
		}
		if r.Username == "" {
			t.Fatalf("ParseResource(%q) accepted an empty name", resource)
		}
		if r.Instance {
			return
		}
		for _, c := range r.Username {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
				t.Fatalf("ParseResource(%q) accepted username %q", resource, r.Username)
			}
		}
		host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
		again, err := web.ParseResource("acct:"+r.Username+"@"+host, base)
		if err != nil || again != r {
			t.Fatalf("%q parsed as %+v, but its acct: form as %+v, %v", resource, r, again, err)
		}
	})
}

// FuzzMatch: the node routes by Match before the handler sees a request.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"/users/alice/statuses/1/activity", "/@alice/1", "/nodeinfo/2.0", "/users//", "/@", "/users/a/collections/featured"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if web.Match(p) && !strings.HasPrefix(p, "/") {
			t.Fatalf("Match(%q) accepted a path without a leading slash", p)
		}
	})
}
