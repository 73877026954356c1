package signature

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"strconv"
	"strings"
)

// Verify checks p.Signature over exactly the headers listed in p.Headers,
// in order, with pub. The algorithm comes from the key type, not from the
// label: an *rsa.PublicKey verifies RSASSA-PKCS1-v1_5 with SHA-256 for the
// labels "rsa-sha256", "hs2019" or none; an ed25519.PublicKey verifies
// Ed25519 for "ed25519", "hs2019" or none. Any other pairing is refused.
//
// (request-target) is tried with the query string first and, when the
// request has one, again without it: some senders sign only the path.
//
// Verify does not check the time window, required headers or digest: call
// CheckHeaders as well. It builds the signing string in a stack buffer and
// does not allocate for typical requests.
//
// For RFC 9421 Params (p.RFC9421) Verify checks the signature base of
// section 2.5 instead, with rsa-v1_5-sha256, rsa-pss-sha512 or ed25519 per
// key type and alg parameter.
func Verify(p Params, r *Request, pub crypto.PublicKey) error {
	if p.RFC9421 {
		return verifyRFC9421(p, r, pub)
	}
	switch pub.(type) {
	case *rsa.PublicKey:
		if p.Algorithm != "" && p.Algorithm != "hs2019" && p.Algorithm != "rsa-sha256" {
			return fail(ReasonAlgorithmKeyMismatch, "algorithm "+quoteShort(p.Algorithm)+" does not match the actor's RSA key")
		}
	case ed25519.PublicKey:
		if p.Algorithm != "" && p.Algorithm != "hs2019" && p.Algorithm != "ed25519" {
			return fail(ReasonAlgorithmKeyMismatch, "algorithm "+quoteShort(p.Algorithm)+" does not match the actor's Ed25519 key")
		}
	default:
		return fail(ReasonUnsupportedKey, "the actor's key type is not supported (want RSA or Ed25519)")
	}
	var buf [1024]byte
	msg, err := appendSigningString(buf[:0], p, r, true)
	if err != nil {
		return err
	}
	if verifyBytes(pub, msg, p.Signature) {
		return nil
	}
	if hasListed(p.Headers, "(request-target)") && strings.IndexByte(r.RequestURI, '?') >= 0 {
		msg, err = appendSigningString(buf[:0], p, r, false)
		if err != nil {
			return err
		}
		if verifyBytes(pub, msg, p.Signature) {
			return nil
		}
	}
	return fail(ReasonBadSignature, "signature does not verify with the key "+quoteShort(p.KeyID))
}

func verifyBytes(pub crypto.PublicKey, msg, sig []byte) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		sum := sha256.Sum256(msg)
		return VerifyPKCS1v15SHA256(k, sum[:], sig)
	case ed25519.PublicKey:
		return len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, sig)
	}
	return false
}

func hasListed(headers []string, name string) bool {
	for _, h := range headers {
		if h == name {
			return true
		}
	}
	return false
}

// requestPath returns the origin-form target of uri: an absolute-form
// target (a proxy that kept "https://host/path") is cut to its path, and an
// empty one is "/".
func requestPath(uri string) string {
	if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
		rest := uri[strings.IndexByte(uri, ':')+3:]
		if i := strings.IndexAny(rest, "/?"); i >= 0 {
			uri = rest[i:]
			if uri[0] == '?' {
				uri = "/" + uri
			}
		} else {
			uri = "/"
		}
	}
	if uri == "" {
		return "/"
	}
	return uri
}

// appendSigningString appends the draft-cavage signing string of p for r:
// one "name: value" line per listed header, joined by "\n".
func appendSigningString(b []byte, p Params, r *Request, withQuery bool) ([]byte, error) {
	for i, h := range p.Headers {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, h...)
		b = append(b, ':', ' ')
		switch h {
		case "(request-target)":
			for j := 0; j < len(r.Method); j++ {
				c := r.Method[j]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b = append(b, c)
			}
			b = append(b, ' ')
			target := requestPath(r.RequestURI)
			if !withQuery {
				if q := strings.IndexByte(target, '?'); q >= 0 {
					target = target[:q]
				}
			}
			b = append(b, target...)
		case "(created)":
			if p.Created == 0 {
				return nil, malformed("(created) is signed but the created parameter is missing")
			}
			b = strconv.AppendInt(b, p.Created, 10)
		case "(expires)":
			if p.Expires == 0 {
				return nil, malformed("(expires) is signed but the expires parameter is missing")
			}
			b = strconv.AppendInt(b, p.Expires, 10)
		default:
			var v string
			if h == "host" {
				v = r.Host
			}
			if v == "" {
				v = r.header(h)
			}
			if v == "" {
				return nil, fail(ReasonSignedHeaderAbsent, quoteShort(h)+" is in the signed headers but not in the request")
			}
			b = append(b, trimOWS(v)...)
		}
	}
	return b, nil
}
