package signature

import (
	"strings"
	"testing"
)

func FuzzParseSignature(f *testing.F) {
	for _, v := range cavageVectors {
		f.Add([]byte(v.signature))
	}
	f.Add([]byte(`keyId="k", algorithm="hs2019", created=1402170695, expires=1402170699, headers="(request-target) (created) (expires)", signature="c2ln"`))
	f.Add([]byte(`sig1=:dGVzdA==:`))
	f.Fuzz(func(t *testing.T, h []byte) {
		p, err := ParseSignature(h)
		if err != nil {
			if ReasonOf(err) == "other" || ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if p.KeyID == "" || len(p.Signature) == 0 || len(p.Headers) == 0 || len(p.Headers) > maxSignedHeaders {
			t.Fatalf("accepted incomplete params %+v", p)
		}
		for _, name := range p.Headers {
			if name == "" || lowerASCII(name) != name || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r > '~' }) {
				t.Fatalf("header name %q not normalised", name)
			}
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	f.Add([]byte("SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="))
	f.Add([]byte("SHA-512=abcd, sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="))
	f.Add([]byte("SHA-256"))
	f.Fuzz(func(t *testing.T, h []byte) {
		_, ok, err := ParseDigest(h)
		if ok && err != nil {
			t.Fatal("ok with an error")
		}
	})
}

func FuzzParseContentDigest(f *testing.F) {
	f.Add([]byte("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"))
	f.Add([]byte(`sha-512=:YWJj:;a=1, id=?1, n=(1 "s" tok);b, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`))
	f.Add([]byte(`a="x\"y", b=-1.5`))
	f.Fuzz(func(t *testing.T, h []byte) {
		_, ok, err := ParseContentDigest(h)
		if ok && err != nil {
			t.Fatal("ok with an error")
		}
	})
}
