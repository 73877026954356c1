package signature

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/go-fed/httpsig"
)

// view adapts a net/http header map the way the ingress adapts fasthttp.
func view(method, uri, host string, h http.Header) *Request {
	return &Request{Method: method, RequestURI: uri, Host: host, Header: func(n string) string {
		return strings.Join(h.Values(n), ", ")
	}}
}

func cavageKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PublicKey) {
	t.Helper()
	raw, err := os.ReadFile("testdata/cavage-test-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	privBlock, rest := pem.Decode(raw)
	pubBlock, _ := pem.Decode(rest)
	priv, err := x509.ParsePKCS1PrivateKey(privBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(pubBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub.(*rsa.PublicKey)
}

// The draft-cavage-12 Appendix C request.
const cavageBody = `{"hello": "world"}`

func cavageHeader() http.Header {
	return http.Header{
		"Date":           {"Sun, 05 Jan 2014 21:31:40 GMT"},
		"Content-Type":   {"application/json"},
		"Digest":         {"SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="},
		"Content-Length": {"18"},
	}
}

// Expected signatures of Appendix C.1 (default), C.2 (basic), C.3 (all headers).
var cavageVectors = []struct {
	name, signature string
	headers         []string
}{
	{"C.1 default", `keyId="Test",algorithm="rsa-sha256",signature="SjWJWbWN7i0wzBvtPl8rbASWz5xQW6mcJmn+ibttBqtifLN7Sazz6m79cNfwwb8DMJ5cou1s7uEGKKCs+FLEEaDV5lp7q25WqS+lavg7T8hc0GppauB6hbgEKTwblDHYGEtbGmtdHgVCk9SuS13F0hZ8FD0k/5OxEPXe5WozsbM="`,
		[]string{"date"}},
	{"C.2 basic", `keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",signature="qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8VfEdKFYRqzic+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="`,
		[]string{"(request-target)", "host", "date"}},
	{"C.3 all headers", `keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date content-type digest content-length",signature="vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs8rgOp+63LEM3v+MFHB32NfpB2bEKBIvB1q52LaEUHFv120V01IL+TAD48XaERZFukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE="`,
		[]string{"(request-target)", "host", "date", "content-type", "digest", "content-length"}},
}

func TestCavageAppendixC(t *testing.T) {
	priv, pub := cavageKeys(t)
	for _, v := range cavageVectors {
		t.Run(v.name, func(t *testing.T) {
			p, err := ParseSignature([]byte(v.signature))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(p.Headers, " ") != strings.Join(v.headers, " ") {
				t.Fatalf("headers = %q, want %q", p.Headers, v.headers)
			}
			r := view("POST", "/foo?param=value&pet=dog", "example.com", cavageHeader())
			if err := Verify(p, r, pub); err != nil {
				t.Fatalf("spec vector does not verify: %v", err)
			}
			// RSASSA-PKCS1-v1_5 is deterministic: signing the same request
			// must reproduce the spec's signature byte for byte.
			h := cavageHeader()
			if err := Sign("POST", "/foo?param=value&pet=dog", "example.com", h, "Test", priv, v.headers, time.Time{}); err != nil {
				t.Fatal(err)
			}
			got, _ := ParseSignature([]byte(h.Get("Signature")))
			if !bytes.Equal(got.Signature, p.Signature) {
				t.Fatalf("Sign produced %q, want the spec's signature", h.Get("Signature"))
			}
			if !strings.Contains(h.Get("Signature"), `algorithm="rsa-sha256"`) {
				t.Fatalf("RSA signature not labelled rsa-sha256: %s", h.Get("Signature"))
			}
			// A different path must not verify.
			r = view("POST", "/bar?param=value&pet=dog", "example.com", cavageHeader())
			if err := Verify(p, r, pub); len(v.headers) > 1 && ReasonOf(err) != ReasonBadSignature {
				t.Fatalf("tampered path: got %v, want bad_signature", err)
			}
		})
	}
	// The spec's digest is the digest of the body.
	if DigestHeader([]byte(cavageBody)) != cavageHeader().Get("Digest") {
		t.Fatalf("DigestHeader = %s", DigestHeader([]byte(cavageBody)))
	}
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rsaKey = k
	})
	return rsaKey
}

var now = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

const noteBody = `{"@context":"https://www.w3.org/ns/activitystreams","id":"https://m.example/users/alice/statuses/1/activity","type":"Create","actor":"https://m.example/users/alice","to":["https://www.w3.org/ns/activitystreams#Public"],"object":{"id":"https://m.example/users/alice/statuses/1","type":"Note","content":"hi"}}`

// mastodonPost builds a POST exactly as Mastodon sends one to an inbox.
func mastodonPost(t testing.TB, priv crypto.PrivateKey, body string, at time.Time) (http.Header, *Request) {
	t.Helper()
	h := http.Header{}
	h.Set("Content-Type", "application/activity+json")
	h.Set("Digest", DigestHeader([]byte(body)))
	h.Set("Date", at.UTC().Format(http.TimeFormat))
	h.Set("User-Agent", "Mastodon/4.3.0 (http.rb/5.2.0; +https://m.example/)")
	err := Sign("POST", "/inbox", "relay.example", h, "https://m.example/users/alice#main-key", priv,
		[]string{"(request-target)", "host", "date", "digest", "content-type"}, at)
	if err != nil {
		t.Fatal(err)
	}
	return h, view("POST", "/inbox", "relay.example", h)
}

// verifyAll runs the ingress's three steps.
func verifyAll(r *Request, body string, pub crypto.PublicKey, at time.Time) error {
	p, err := ParseRequest(r)
	if err != nil {
		return err
	}
	if err := CheckHeaders(p, r, Checks{Now: at, RequireDigest: r.Method == "POST", Body: []byte(body)}); err != nil {
		return err
	}
	return Verify(p, r, pub)
}

func TestMastodonPostAccepted(t *testing.T) {
	k := testRSAKey(t)
	h, r := mastodonPost(t, k, noteBody, now)
	want := `keyId="https://m.example/users/alice#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest content-type",signature="`
	if !strings.HasPrefix(h.Get("Signature"), want) {
		t.Fatalf("Signature header = %s, want prefix %s", h.Get("Signature"), want)
	}
	if err := verifyAll(r, noteBody, &k.PublicKey, now.Add(30*time.Second)); err != nil {
		t.Fatalf("Mastodon-shaped request refused: %v", err)
	}
	// Date 59 minutes ahead of our clock (sender clock fast) is accepted;
	// 65 minutes old (5 min lifetime + 1 h skew) is refused.
	if err := verifyAll(r, noteBody, &k.PublicKey, now.Add(-59*time.Minute)); err != nil {
		t.Fatalf("Date within the 1h skew refused: %v", err)
	}
	if err := verifyAll(r, noteBody, &k.PublicKey, now.Add(66*time.Minute)); ReasonOf(err) != ReasonDateOutOfWindow {
		t.Fatalf("66 minute old Date: got %v, want date_out_of_window", err)
	}
}

func TestSpoofingProbesRefused(t *testing.T) {
	k := testRSAKey(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		reason string
		make   func() (*Request, string, crypto.PublicKey, time.Time)
	}{
		{"same signature, different body", ReasonDigestMismatch, func() (*Request, string, crypto.PublicKey, time.Time) {
			_, r := mastodonPost(t, k, noteBody, now)
			return r, strings.Replace(noteBody, `"hi"`, `"buy pills"`, 1), &k.PublicKey, now
		}},
		{"different body with a recomputed digest", ReasonBadSignature, func() (*Request, string, crypto.PublicKey, time.Time) {
			h, _ := mastodonPost(t, k, noteBody, now)
			forged := strings.Replace(noteBody, `"hi"`, `"buy pills"`, 1)
			h.Set("Digest", DigestHeader([]byte(forged)))
			return view("POST", "/inbox", "relay.example", h), forged, &k.PublicKey, now
		}},
		{"digest present but not signed", ReasonDigestUnsigned, func() (*Request, string, crypto.PublicKey, time.Time) {
			h := http.Header{}
			h.Set("Digest", DigestHeader([]byte(noteBody)))
			if err := Sign("POST", "/inbox", "relay.example", h, "https://m.example/users/alice#main-key", k,
				[]string{"(request-target)", "host", "date"}, now); err != nil {
				t.Fatal(err)
			}
			return view("POST", "/inbox", "relay.example", h), noteBody, &k.PublicKey, now
		}},
		{"POST without digest", ReasonDigestMissing, func() (*Request, string, crypto.PublicKey, time.Time) {
			h := http.Header{}
			if err := Sign("POST", "/inbox", "relay.example", h, "https://m.example/users/alice#main-key", k, nil, now); err != nil {
				t.Fatal(err)
			}
			return view("POST", "/inbox", "relay.example", h), noteBody, &k.PublicKey, now
		}},
		{"Date a day old", ReasonDateOutOfWindow, func() (*Request, string, crypto.PublicKey, time.Time) {
			_, r := mastodonPost(t, k, noteBody, now.Add(-24*time.Hour))
			return r, noteBody, &k.PublicKey, now
		}},
		{"Date two hours in the future", ReasonDateOutOfWindow, func() (*Request, string, crypto.PublicKey, time.Time) {
			_, r := mastodonPost(t, k, noteBody, now.Add(2*time.Hour))
			return r, noteBody, &k.PublicKey, now
		}},
		{"tampered host", ReasonBadSignature, func() (*Request, string, crypto.PublicKey, time.Time) {
			h, _ := mastodonPost(t, k, noteBody, now)
			return view("POST", "/inbox", "other.example", h), noteBody, &k.PublicKey, now
		}},
		{"tampered path", ReasonBadSignature, func() (*Request, string, crypto.PublicKey, time.Time) {
			h, _ := mastodonPost(t, k, noteBody, now)
			return view("POST", "/users/bob/inbox", "relay.example", h), noteBody, &k.PublicKey, now
		}},
		{"tampered Date", ReasonBadSignature, func() (*Request, string, crypto.PublicKey, time.Time) {
			h, _ := mastodonPost(t, k, noteBody, now)
			h.Set("Date", now.Add(time.Second).Format(http.TimeFormat))
			return view("POST", "/inbox", "relay.example", h), noteBody, &k.PublicKey, now
		}},
		{"another actor's key", ReasonBadSignature, func() (*Request, string, crypto.PublicKey, time.Time) {
			_, r := mastodonPost(t, k, noteBody, now)
			return r, noteBody, &other.PublicKey, now
		}},
		{"(request-target) not signed", ReasonMissingRequiredHeader, func() (*Request, string, crypto.PublicKey, time.Time) {
			h := http.Header{}
			h.Set("Digest", DigestHeader([]byte(noteBody)))
			if err := Sign("POST", "/inbox", "relay.example", h, "https://m.example/users/alice#main-key", k,
				[]string{"host", "date", "digest"}, now); err != nil {
				t.Fatal(err)
			}
			return view("POST", "/inbox", "relay.example", h), noteBody, &k.PublicKey, now
		}},
		{"host not signed", ReasonMissingRequiredHeader, func() (*Request, string, crypto.PublicKey, time.Time) {
			h := http.Header{}
			h.Set("Digest", DigestHeader([]byte(noteBody)))
			if err := Sign("POST", "/inbox", "relay.example", h, "https://m.example/users/alice#main-key", k,
				[]string{"(request-target)", "date", "digest"}, now); err != nil {
				t.Fatal(err)
			}
			return view("POST", "/inbox", "relay.example", h), noteBody, &k.PublicKey, now
		}},
		{"undated", ReasonMissingRequiredHeader, func() (*Request, string, crypto.PublicKey, time.Time) {
			h := http.Header{}
			h.Set("Digest", DigestHeader([]byte(noteBody)))
			if err := Sign("POST", "/inbox", "relay.example", h, "https://m.example/users/alice#main-key", k,
				[]string{"(request-target)", "host", "digest"}, now); err != nil {
				t.Fatal(err)
			}
			return view("POST", "/inbox", "relay.example", h), noteBody, &k.PublicKey, now
		}},
		{"RFC 9421 component parameters", ReasonRFC9421Unsupported, func() (*Request, string, crypto.PublicKey, time.Time) {
			h := http.Header{}
			h.Set("Signature-Input", `sig1=("@method" "@target-uri" "content-digest";sf);created=1700000000;keyid="https://m.example/users/alice#main-key"`)
			h.Set("Signature", "sig1=:AAAA:")
			return view("POST", "/inbox", "relay.example", h), noteBody, &k.PublicKey, now
		}},
		{"no signature", ReasonMissingSignature, func() (*Request, string, crypto.PublicKey, time.Time) {
			return view("POST", "/inbox", "relay.example", http.Header{}), noteBody, &k.PublicKey, now
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, body, pub, at := tc.make()
			err := verifyAll(r, body, pub, at)
			if ReasonOf(err) != tc.reason {
				t.Fatalf("got %v (reason %q), want reason %q", err, ReasonOf(err), tc.reason)
			}
		})
	}
}

func TestCreatedAndExpiresWindow(t *testing.T) {
	k := testRSAKey(t)
	sign := func(headers []string, at time.Time) *Request {
		h := http.Header{}
		h.Set("Digest", DigestHeader([]byte(noteBody)))
		if err := Sign("POST", "/inbox", "relay.example", h, "https://m.example/actor#main-key", k, headers, at); err != nil {
			t.Fatal(err)
		}
		h.Del("Date") // only (created) dates it
		return view("POST", "/inbox", "relay.example", h)
	}
	created := []string{"(request-target)", "host", "(created)", "digest"}
	r := sign(created, now)
	for _, tc := range []struct {
		at     time.Time
		reason string
	}{
		{now.Add(-59 * time.Minute), ""},
		{now.Add(-61 * time.Minute), ReasonDateOutOfWindow},
		{now.Add(64 * time.Minute), ""},
		{now.Add(66 * time.Minute), ReasonDateOutOfWindow},
	} {
		if got := ReasonOf(verifyAll(r, noteBody, &k.PublicKey, tc.at)); got != tc.reason {
			t.Errorf("(created) signature checked at created%+v: reason %q, want %q", tc.at.Sub(now), got, tc.reason)
		}
	}
	// A signed (expires) extends the lifetime, but never past created + 12h.
	r = sign(append(created, "(expires)"), now)
	p, _ := ParseRequest(r)
	p.Expires = now.Add(48 * time.Hour).Unix() // as if the sender chose 48h
	h := http.Header{}
	h.Set("Digest", DigestHeader([]byte(noteBody)))
	pp := p
	pp.Headers = append([]string(nil), p.Headers...)
	if err := CheckHeaders(pp, r, Checks{Now: now.Add(12*time.Hour + 59*time.Minute), RequireDigest: true, Body: []byte(noteBody)}); err != nil {
		t.Errorf("expires within created+12h+1h refused: %v", err)
	}
	if err := CheckHeaders(pp, r, Checks{Now: now.Add(13*time.Hour + time.Minute), RequireDigest: true, Body: []byte(noteBody)}); ReasonOf(err) != ReasonDateOutOfWindow {
		t.Errorf("expires beyond the 12h cap accepted: %v", err)
	}
}

func TestQueryStringFallback(t *testing.T) {
	k := testRSAKey(t)
	// The sender signed the bare path, the request carries a query.
	h := http.Header{}
	if err := Sign("GET", "/users/alice", "m.example", h, "https://r.example/actor#main-key", k, nil, now); err != nil {
		t.Fatal(err)
	}
	p, err := ParseRequest(view("GET", "/users/alice", "m.example", h))
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(p, view("GET", "/users/alice?page=true", "m.example", h), &k.PublicKey); err != nil {
		t.Fatalf("path-only signature with query refused: %v", err)
	}
	// And the query-included signature verifies on first try.
	h = http.Header{}
	if err := Sign("GET", "/users/alice?page=true", "m.example", h, "https://r.example/actor#main-key", k, nil, now); err != nil {
		t.Fatal(err)
	}
	p, _ = ParseRequest(view("GET", "/users/alice?page=true", "m.example", h))
	if err := Verify(p, view("GET", "/users/alice?page=true", "m.example", h), &k.PublicKey); err != nil {
		t.Fatal(err)
	}
	if err := Verify(p, view("GET", "/users/alice?page=false", "m.example", h), &k.PublicKey); ReasonOf(err) != ReasonBadSignature {
		t.Fatalf("different query accepted: %v", err)
	}
}

func TestEd25519AndAlgorithmFromKey(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, r := mastodonPost(t, priv, noteBody, now)
	if !strings.Contains(h.Get("Signature"), `algorithm="ed25519"`) {
		t.Fatalf("ed25519 label missing: %s", h.Get("Signature"))
	}
	if err := verifyAll(r, noteBody, pub, now); err != nil {
		t.Fatal(err)
	}
	// The label hs2019 is verified by key type, for both key kinds.
	p, _ := ParseRequest(r)
	p.Algorithm = "hs2019"
	if err := Verify(p, r, pub); err != nil {
		t.Fatalf("hs2019 with an Ed25519 key: %v", err)
	}
	k := testRSAKey(t)
	_, rr := mastodonPost(t, k, noteBody, now)
	pr, _ := ParseRequest(rr)
	pr.Algorithm = "hs2019"
	if err := Verify(pr, rr, &k.PublicKey); err != nil {
		t.Fatalf("hs2019 with an RSA key: %v", err)
	}
	// A label that contradicts the key is refused.
	pr.Algorithm = "ed25519"
	if err := Verify(pr, rr, &k.PublicKey); ReasonOf(err) != ReasonAlgorithmKeyMismatch {
		t.Fatalf("ed25519 label with RSA key: %v", err)
	}
	p.Algorithm = "rsa-sha256"
	if err := Verify(p, r, pub); ReasonOf(err) != ReasonAlgorithmKeyMismatch {
		t.Fatalf("rsa-sha256 label with Ed25519 key: %v", err)
	}
}

// go-fed/httpsig is an independent implementation: what it signs we must
// verify, and what we sign it must verify.
func TestInteropWithGoFedHTTPSig(t *testing.T) {
	k := testRSAKey(t)
	body := []byte(noteBody)
	req, _ := http.NewRequest("POST", "https://relay.example/inbox?x=1", bytes.NewReader(body))
	req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	req.Header.Set("Host", "relay.example") // httpsig's signer reads Host from the header map
	signer, _, err := httpsig.NewSigner([]httpsig.Algorithm{httpsig.RSA_SHA256}, httpsig.DigestSha256,
		[]string{httpsig.RequestTarget, "host", "date", "digest"}, httpsig.Signature, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.SignRequest(k, "https://g.example/users/bob/main-key", req, body); err != nil {
		t.Fatal(err)
	}
	r := view("POST", "/inbox?x=1", "relay.example", req.Header)
	if err := verifyAll(r, noteBody, &k.PublicKey, time.Now()); err != nil {
		t.Fatalf("httpsig-signed (hs2019 label) request refused: %v\n%s", err, req.Header.Get("Signature"))
	}

	h := http.Header{}
	h.Set("Digest", DigestHeader(body))
	if err := Sign("POST", "/inbox?x=1", "relay.example", h, "https://r.example/actor#main-key", k, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	out, _ := http.NewRequest("POST", "https://relay.example/inbox?x=1", bytes.NewReader(body))
	out.Header = h
	v, err := httpsig.NewVerifier(out)
	if err != nil {
		t.Fatal(err)
	}
	if v.KeyId() != "https://r.example/actor#main-key" {
		t.Fatalf("httpsig read keyId %q", v.KeyId())
	}
	if err := v.Verify(&k.PublicKey, httpsig.RSA_SHA256); err != nil {
		t.Fatalf("httpsig refuses our signature: %v\n%s", err, h.Get("Signature"))
	}
}

func TestParseSignature(t *testing.T) {
	sig := "c2ln" // "sig"
	tests := []struct {
		in      string
		reason  string
		keyID   string
		alg     string
		headers string
		created int64
	}{
		{`keyId="k",algorithm="rsa-sha256",headers="(request-target) Host DATE",signature="` + sig + `"`, "", "k", "rsa-sha256", "(request-target) host date", 0},
		{`keyId="k", algorithm="hs2019", created=1402170695, expires="1402170699", headers="(request-target) (created) (expires)", signature="` + sig + `"`, "", "k", "hs2019", "(request-target) (created) (expires)", 1402170695},
		{`Signature keyId="k",signature="` + sig + `"`, "", "k", "", "(created)", 0},
		{`keyId="k",algorithm="hs2019",signature="` + sig + `"`, "", "k", "hs2019", "(created)", 0},
		{`keyId="k",algorithm="rsa-sha256",signature="` + sig + `"`, "", "k", "rsa-sha256", "date", 0},
		{`keyId="k",algorithm="RSA-SHA256",signature="c2lnYQ",foo="bar"`, "", "k", "rsa-sha256", "date", 0},
		{`keyId="k",algorithm="hmac-sha256",signature="` + sig + `"`, ReasonUnsupportedAlgorithm, "", "", "", 0},
		{`keyId="k",algorithm="rsa-sha512",signature="` + sig + `"`, ReasonUnsupportedAlgorithm, "", "", "", 0},
		{`algorithm="rsa-sha256",signature="` + sig + `"`, ReasonMalformedSignature, "", "", "", 0},
		{`keyId="k",algorithm="rsa-sha256"`, ReasonMalformedSignature, "", "", "", 0},
		{`keyId="k",signature="not base64!"`, ReasonMalformedSignature, "", "", "", 0},
		{`keyId="k,signature="` + sig + `"`, ReasonMalformedSignature, "", "", "", 0},
		{`keyId="k",keyId="j",signature="` + sig + `"`, ReasonMalformedSignature, "", "", "", 0},
		{`keyId="k",created=-5,signature="` + sig + `"`, ReasonMalformedSignature, "", "", "", 0},
		{`keyId="k",headers="",signature="` + sig + `"`, ReasonMalformedSignature, "", "", "", 0},
		{`keyId`, ReasonMalformedSignature, "", "", "", 0},
		{``, ReasonMalformedSignature, "", "", "", 0},
		{`sig1=:dGVzdA==:`, ReasonRFC9421Unsupported, "", "", "", 0},
	}
	for _, tc := range tests {
		p, err := ParseSignature([]byte(tc.in))
		if ReasonOf(err) != tc.reason {
			t.Errorf("ParseSignature(%s): err %v, want reason %q", tc.in, err, tc.reason)
			continue
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "signature: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			continue
		}
		if p.KeyID != tc.keyID || p.Algorithm != tc.alg || strings.Join(p.Headers, " ") != tc.headers || p.Created != tc.created {
			t.Errorf("ParseSignature(%s) = %+v", tc.in, p)
		}
	}
}

func TestParseDigest(t *testing.T) {
	body := []byte(cavageBody)
	want := sha256.Sum256(body)
	tests := []struct {
		in     string
		ok     bool
		errors bool
	}{
		{"SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", true, false},
		{"sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", true, false},
		{"SHA-512=abcd, SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", true, false},
		{"SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=,MD5=xyz", true, false},
		{"SHA-512=abcd", false, false},
		{"", false, false},
		{"SHA-256=X48E9q", false, true},
		{"SHA-256", false, true},
		{"SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=,SHA-256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", false, true},
	}
	for _, tc := range tests {
		sum, ok, err := ParseDigest([]byte(tc.in))
		if ok != tc.ok || (err != nil) != tc.errors || (ok && sum != want) {
			t.Errorf("ParseDigest(%q) = %x, %v, %v", tc.in, sum, ok, err)
		}
	}
}

func TestParseContentDigest(t *testing.T) {
	want := sha256.Sum256([]byte(cavageBody))
	tests := []struct {
		in     string
		ok     bool
		errors bool
	}{
		{"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", true, false},
		{"sha-512=:YWJj:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:;p=1", true, false},
		{`md5="x", id-sha-256=?1, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, n=(1 2 tok);a`, true, false},
		{"sha-512=:YWJj:", false, false},
		{"", false, false},
		{"sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", false, true}, // token, not bytes
		{"sha-256=:X48E9qOokqqrv:", false, true},
		{"SHA-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", false, true},
		{"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:,", false, true},
		{"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", false, true},
		{`a="unterminated`, false, true},
	}
	for _, tc := range tests {
		sum, ok, err := ParseContentDigest([]byte(tc.in))
		if ok != tc.ok || (err != nil) != tc.errors || (ok && sum != want) {
			t.Errorf("ParseContentDigest(%q) = %x, %v, %v", tc.in, sum, ok, err)
		}
	}
	// A signed Content-Digest is accepted in place of Digest.
	k := testRSAKey(t)
	h := http.Header{}
	h.Set("Content-Digest", "sha-256=:"+strings.TrimPrefix(DigestHeader([]byte(noteBody)), "SHA-256=")+":")
	if err := Sign("POST", "/inbox", "relay.example", h, "https://m.example/actor#k", k,
		[]string{"(request-target)", "host", "date", "content-digest"}, now); err != nil {
		t.Fatal(err)
	}
	r := view("POST", "/inbox", "relay.example", h)
	if err := verifyAll(r, noteBody, &k.PublicKey, now); err != nil {
		t.Fatalf("signed Content-Digest refused: %v", err)
	}
	if err := verifyAll(r, noteBody+" ", &k.PublicKey, now); ReasonOf(err) != ReasonDigestMismatch {
		t.Fatalf("altered body with Content-Digest: %v", err)
	}
}

// mapView is an allocation-free header view, like the ingress's fasthttp
// adapter, so that benchmarks measure this package and not http.Header's
// key canonicalisation.
func mapView(r *Request, h http.Header) *Request {
	m := map[string]string{}
	for k := range h {
		m[strings.ToLower(k)] = strings.Join(h[k], ", ")
	}
	v := *r
	v.Header = func(n string) string { return m[n] }
	return &v
}

func BenchmarkVerifyRSA2048(b *testing.B) {
	k := testRSAKey(b)
	h, r := mastodonPost(b, k, noteBody, now)
	r = mapView(r, h)
	p, err := ParseRequest(r)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if err := Verify(p, r, &k.PublicKey); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawRSAVerify(b *testing.B) {
	k := testRSAKey(b)
	sum := sha256.Sum256([]byte("(request-target): post /inbox"))
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAndCheck(b *testing.B) {
	k := testRSAKey(b)
	h, r := mastodonPost(b, k, noteBody, now)
	r = mapView(r, h)
	c := Checks{Now: now, RequireDigest: true, Body: []byte(noteBody)}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		p, err := ParseRequest(r)
		if err != nil {
			b.Fatal(err)
		}
		if err := CheckHeaders(p, r, c); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU adds a cpu-ns/op metric: process CPU time per operation. On
// the shared 2-core build machines wall-clock ns/op mostly measures the
// neighbours; CPU time is what this code costs.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
	}
}

// TestParamsDoNotAliasTheRequest hands ParseRequest header values that
// alias a buffer, as the ingress does with fasthttp's, then overwrites the
// buffer the way the next request on the connection would: Params, which
// outlives the request (the key id is cached and queued), must not change.
func TestParamsDoNotAliasTheRequest(t *testing.T) {
	const header = `keyId="https://remote.example/users/alice#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest x-extra",signature="c2lnbmF0dXJl"`
	buf := []byte(header)
	r := &Request{Method: "POST", RequestURI: "/inbox", Host: "palisade.test", Header: func(n string) string {
		if n == "signature" {
			return unsafe.String(unsafe.SliceData(buf), len(buf))
		}
		return ""
	}}
	p, err := ParseRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	if p.KeyID != "https://remote.example/users/alice#main-key" || p.Algorithm != "rsa-sha256" ||
		strings.Join(p.Headers, " ") != "(request-target) host date digest x-extra" {
		t.Fatalf("Params changed with the request buffer: %+v", p)
	}
}
