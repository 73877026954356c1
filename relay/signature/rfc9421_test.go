package signature

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func rfc9421Keys(t *testing.T) (*rsa.PublicKey, ed25519.PublicKey, ed25519.PrivateKey) {
	raw, err := os.ReadFile("testdata/rfc9421-test-keys.pem")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []*pem.Block
	for {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	pss, err := x509.ParsePKIXPublicKey(blocks[0].Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := x509.ParsePKIXPublicKey(blocks[1].Bytes)
	if err != nil {
		t.Fatal(err)
	}
	edPriv, err := x509.ParsePKCS8PrivateKey(blocks[2].Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pss.(*rsa.PublicKey), ed.(ed25519.PublicKey), edPriv.(ed25519.PrivateKey)
}

// The RFC 9421 test request (Appendix B.2).
func rfc9421Request(input, sig string) *Request {
	h := http.Header{
		"Date":            {"Tue, 20 Apr 2021 02:07:55 GMT"},
		"Content-Type":    {"application/json"},
		"Content-Digest":  {"sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"},
		"Content-Length":  {"18"},
		"Signature-Input": {input},
		"Signature":       {sig},
	}
	return view("POST", "/foo?param=Value&Pet=dog", "example.com", h)
}

func TestRFC9421AppendixB(t *testing.T) {
	pss, ed, edPriv := rfc9421Keys(t)
	tests := []struct {
		name, input, sig string
		key              crypto.PublicKey
	}{
		{"B.2.1 minimal, rsa-pss-sha512", `sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"`,
			`sig-b21=:d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==:`, pss},
		{"B.2.3 full coverage, rsa-pss-sha512", `sig-b23=("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss"`,
			`sig-b23=:bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp768ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==:`, pss},
		{"B.2.6 ed25519", `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`,
			`sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`, ed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rfc9421Request(tc.input, tc.sig)
			p, err := ParseRequest(r)
			if err != nil {
				t.Fatal(err)
			}
			if !p.RFC9421 || p.Created != 1618884473 || !strings.HasPrefix(p.KeyID, "test-key-") {
				t.Fatalf("parsed %+v", p)
			}
			if err := Verify(p, r, tc.key); err != nil {
				t.Fatalf("RFC vector does not verify: %v", err)
			}
			// The same signature on another host or method fails (B.2.1
			// covers nothing but its parameters, so only its keyid binds).
			if len(p.Headers) > 0 {
				r2 := rfc9421Request(tc.input, tc.sig)
				r2.Host = "example.org"
				r2.Method = "PUT"
				if err := Verify(p, r2, tc.key); ReasonOf(err) != ReasonBadSignature {
					t.Fatalf("tampered request: %v", err)
				}
			}
		})
	}
	// Ed25519 is deterministic: the RFC's private key reproduces B.2.6.
	p, _ := ParseRequest(rfc9421Request(tests[2].input, tests[2].sig))
	base, err := appendSignatureBase(nil, p, rfc9421Request(tests[2].input, tests[2].sig))
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.StdEncoding.EncodeToString(ed25519.Sign(edPriv, base)); !strings.Contains(tests[2].sig, got) {
		t.Fatalf("signature base differs from the RFC's: signing it gives %s", got)
	}
}

// mastodon9421 builds a request as an RFC 9421 Mastodon sends it, with the
// signature base written out literally.
func mastodon9421(t *testing.T, k *rsa.PrivateKey, body string, created int64, components string, base string) (http.Header, *Request) {
	t.Helper()
	input := "(" + components + ");created=" + strconv.FormatInt(created, 10) + `;keyid="https://m.example/users/alice#main-key"`
	sum := sha256.Sum256([]byte(base + `"@signature-params": ` + input))
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/activity+json")
	h.Set("Content-Digest", "sha-256=:"+strings.TrimPrefix(DigestHeader([]byte(body)), "SHA-256=")+":")
	h.Set("Signature-Input", "sig1="+input)
	h.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(sig)+":")
	return h, view("POST", "/inbox", "relay.example", h)
}

func TestRFC9421MastodonShaped(t *testing.T) {
	k := testRSAKey(t)
	cd := "sha-256=:" + strings.TrimPrefix(DigestHeader([]byte(noteBody)), "SHA-256=") + ":"
	base := "\"@method\": POST\n\"@target-uri\": https://relay.example/inbox\n\"content-digest\": " + cd + "\n"
	comps := `"@method" "@target-uri" "content-digest"`
	_, r := mastodon9421(t, k, noteBody, now.Unix(), comps, base)
	if err := verifyAll(r, noteBody, &k.PublicKey, now); err != nil {
		t.Fatalf("RFC 9421 Mastodon-shaped request refused: %v", err)
	}
	if err := verifyAll(r, noteBody+"x", &k.PublicKey, now); ReasonOf(err) != ReasonDigestMismatch {
		t.Fatalf("different body: %v", err)
	}
	if err := verifyAll(r, noteBody, &k.PublicKey, now.Add(24*time.Hour)); ReasonOf(err) != ReasonDateOutOfWindow {
		t.Fatalf("a day later: %v", err)
	}
	h, _ := mastodon9421(t, k, noteBody, now.Unix(), comps, base)
	if err := verifyAll(view("POST", "/inbox", "other.example", h), noteBody, &k.PublicKey, now); ReasonOf(err) != ReasonBadSignature {
		t.Fatalf("other host: %v", err)
	}
	// Content-Digest present but not covered.
	_, r = mastodon9421(t, k, noteBody, now.Unix(), `"@method" "@target-uri"`, "\"@method\": POST\n\"@target-uri\": https://relay.example/inbox\n")
	if err := verifyAll(r, noteBody, &k.PublicKey, now); ReasonOf(err) != ReasonDigestUnsigned {
		t.Fatalf("uncovered digest: %v", err)
	}
	// Target not covered.
	_, r = mastodon9421(t, k, noteBody, now.Unix(), `"@method" "content-digest"`, "\"@method\": POST\n\"content-digest\": "+cd+"\n")
	if err := verifyAll(r, noteBody, &k.PublicKey, now); ReasonOf(err) != ReasonMissingRequiredHeader {
		t.Fatalf("uncovered target: %v", err)
	}
}

func TestParseRFC9421Errors(t *testing.T) {
	tests := []struct{ input, sig, reason string }{
		{`sig1=("@method");created=1;keyid="k"`, `sig2=:AAAA:`, ReasonMalformedSignature},
		{`sig1=("@method");created=1`, `sig1=:AAAA:`, ReasonMalformedSignature},
		{`sig1=("@method");created=1;keyid="k";alg="hmac-sha256"`, `sig1=:AAAA:`, ReasonUnsupportedAlgorithm},
		{`sig1=("@method" "@method");keyid="k"`, `sig1=:AAAA:`, ReasonMalformedSignature},
		{`sig1=("@method";req);keyid="k"`, `sig1=:AAAA:`, ReasonRFC9421Unsupported},
		{`sig1=(@method);keyid="k"`, `sig1=:AAAA:`, ReasonMalformedSignature},
		{`sig1=("@method");keyid="k"`, `sig1="AAAA"`, ReasonMalformedSignature},
		{`sig1=("@method");created=x;keyid="k"`, `sig1=:AAAA:`, ReasonMalformedSignature},
	}
	for _, tc := range tests {
		_, err := ParseRFC9421([]byte(tc.input), []byte(tc.sig))
		if ReasonOf(err) != tc.reason {
			t.Errorf("ParseRFC9421(%s, %s) = %v, want reason %s", tc.input, tc.sig, err, tc.reason)
		}
	}
	// Of two signatures, the one present in both headers is used.
	p, err := ParseRFC9421([]byte(`a=("@method");keyid="ka", b=("@path");keyid="kb";created=5`), []byte(`b=:AAAA:`))
	if err != nil || p.KeyID != "kb" || p.Label != "b" || p.Created != 5 || p.sigParams != `("@path");keyid="kb";created=5` {
		t.Fatalf("got %+v, %v", p, err)
	}
}

func FuzzParseRFC9421(f *testing.F) {
	f.Add([]byte(`sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`),
		[]byte(`sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`))
	f.Add([]byte(`a=("@method");keyid="ka", b=("@path";req);keyid="k\"b";created=5;alg="ed25519"`), []byte(`b=:AAAA:;x=1, a=:AA==:`))
	f.Fuzz(func(t *testing.T, input, sig []byte) {
		p, err := ParseRFC9421(input, sig)
		if err != nil {
			if ReasonOf(err) == "other" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if !p.RFC9421 || p.KeyID == "" || len(p.Signature) == 0 {
			t.Fatalf("accepted incomplete params %+v", p)
		}
		r := &Request{Method: "POST", RequestURI: "/inbox", Host: "h", Header: func(string) string { return "v" }}
		_, _ = appendSignatureBase(nil, p, r)
	})
}
