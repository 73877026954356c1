package oauth

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzAppsRequest feeds arbitrary bodies to the decoding and validation of
// POST /api/v1/apps: they must never panic, and what they accept must be
// an app that can be stored and shown (a non-empty valid name, at least
// one checked redirect URI, known scopes).
func FuzzAppsRequest(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "client_name=App&redirect_uris=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob&scopes=read+write")
	f.Add("application/json", `{"client_name":"A","redirect_uris":["https://a.example/cb","myapp://cb"],"scopes":"read","website":"https://a.example"}`)
	f.Add("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"client_name\"\r\n\r\nM\r\n--b\r\nContent-Disposition: form-data; name=\"redirect_uris\"\r\n\r\nhttps://m.example/\r\n--b--\r\n")
	f.Add("application/json", `{"client_name":{"x":1}}`)
	f.Add("", "redirect_uris[]=https://a.example/1&redirect_uris[]=https://a.example/2&client_name=x")
	f.Add("application/json", `{"client_name":"\u0000","redirect_uris":"javascript:alert(1)"}`)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		v, err := decodeBody(contentType, []byte(body))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error message")
			}
			return
		}
		a, err := appRequestFrom(v)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "Validation failed: ") {
				t.Fatalf("error %q is not Mastodon's 422 form", err)
			}
			return
		}
		if a.name == "" || !utf8.ValidString(a.name) || len(a.redirects) == 0 || len(a.scopes) == 0 {
			t.Fatalf("accepted %+v", a)
		}
		for _, r := range a.redirects {
			if r != OOB && checkRedirect(r) != nil {
				t.Fatalf("accepted redirect %q", r)
			}
		}
		for _, s := range a.scopes {
			if !known[s] {
				t.Fatalf("accepted scope %q", s)
			}
		}
	})
}

// FuzzTokenRequest does the same for POST /oauth/token: decoding, grant
// type, PKCE verifier and scope parsing never panic, and an accepted
// request has what its grant needs.
func FuzzTokenRequest(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "grant_type=authorization_code&code=abc&client_id=c&redirect_uri=x&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "")
	f.Add("application/json", `{"grant_type":"password","client_id":"c","client_secret":"s","username":"a@b","password":"p","scope":"read write"}`, "")
	f.Add("application/x-www-form-urlencoded", "grant_type=client_credentials&scope=read", "Basic YyUzQTpz")
	f.Add("application/json", `{"grant_type":1e999}`, "")
	f.Add("text/plain", "x", "Basic !!!")
	f.Fuzz(func(t *testing.T, contentType, body, authz string) {
		v, err := decodeBody(contentType, []byte(body))
		if err != nil {
			return
		}
		r := httptest.NewRequest("POST", "/oauth/token", nil)
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		req, oe := tokenRequestFrom(v, r)
		if oe != nil {
			if oe.code == "" || oe.desc == "" || oe.status < 400 {
				t.Fatalf("error %+v", oe)
			}
			return
		}
		if req.clientID == "" {
			t.Fatal("accepted without client_id")
		}
		switch req.grantType {
		case "authorization_code":
			if req.code == "" || (req.verifier != "" && !validPKCE(req.verifier)) {
				t.Fatalf("accepted %+v", req)
			}
		case "password":
			if req.username == "" || req.password == "" {
				t.Fatalf("accepted %+v", req)
			}
		case "client_credentials":
		default:
			t.Fatalf("accepted grant type %q", req.grantType)
		}
		if sc, err := ParseScopes(req.scope, nil); err == nil {
			for _, s := range sc {
				if !known[s] {
					t.Fatalf("scope %q", s)
				}
			}
		}
	})
}

// FuzzQueryParams covers the query-string merge of decodeParams.
func FuzzQueryParams(f *testing.F) {
	f.Add("client_name=a&scopes=read", "client_name=b")
	f.Add("%zz", "")
	f.Fuzz(func(t *testing.T, query, body string) {
		r := httptest.NewRequest("POST", "/api/v1/apps", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		v, err := decodeParams(r)
		if err != nil {
			return
		}
		if bv, berr := url.ParseQuery(body); berr == nil && len(bv["client_name"]) == 1 && v.Get("client_name") != bv.Get("client_name") {
			t.Fatalf("the body's client_name %q lost to %q", bv.Get("client_name"), v.Get("client_name"))
		}
	})
}

func TestAllows(t *testing.T) {
	for _, c := range []struct {
		granted string
		want    string
		ok      bool
	}{
		{"read", "read", true},
		{"read", "read:statuses", true},
		{"read", "write:statuses", false},
		{"read:statuses", "read", false},
		{"read:statuses", "read:accounts", false},
		{"write", "write:media", true},
		{"follow", "write:follows", true},
		{"follow", "read:blocks", true},
		{"follow", "write:statuses", false},
		{"admin:read", "admin:read:accounts", true},
		{"admin:read", "admin:write:accounts", false},
		{"admin:write", "admin:write:domain_blocks", true},
		{"read", "admin:read:accounts", false},
		{"read", "readx", false},
		{"admin:read:accounts", "admin:read", false},
		{"push", "push", true},
		{"profile", "read:accounts", false},
	} {
		g := &Grant{Scopes: strings.Fields(c.granted)}
		if got := g.Allows(c.want); got != c.ok {
			t.Errorf("%q allows %q = %v, want %v", c.granted, c.want, got, c.ok)
		}
	}
	var g *Grant
	if g.Allows("read") {
		t.Error("a nil grant allows read")
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(Limit{Burst: 2, Every: 10e9}, DefaultIPLimit)
	now := testTime
	if l.take("a", now) != 0 || l.take("a", now) != 0 {
		t.Fatal("burst refused")
	}
	if w := l.take("a", now); w <= 0 || w > 10e9 {
		t.Fatalf("third take waits %v", w)
	}
	if l.take("b", now) != 0 {
		t.Fatal("another key is limited")
	}
	if l.take("a", now.Add(10e9)) != 0 {
		t.Fatal("no refill after Every")
	}
}

var testTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
