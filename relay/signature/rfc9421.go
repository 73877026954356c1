package signature

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"strconv"
	"strings"
)

// RFC 9421 (HTTP Message Signatures) support, for peers that send
// Signature-Input (newer Mastodon does when the receiver advertises it).
//
// Scope: request signatures over derived components @method, @target-uri,
// @authority, @scheme, @request-target, @path, @query and plain header
// fields, without component parameters (;sf, ;key, ;bs, ;req, ;name are
// refused); algorithms rsa-v1_5-sha256, rsa-pss-sha512 and ed25519, chosen
// from the key type and the alg parameter. The receiving side is assumed to
// be https (fediverse servers are), which @target-uri and @scheme encode.

// ParseRFC9421 parses a Signature-Input / Signature header pair. When
// several signatures are present, the first label of Signature-Input that
// Signature also carries is used. The returned Params has RFC9421 set,
// Headers lists the covered component identifiers in order, Algorithm is
// the alg parameter ("" when absent), Created/Expires the parameters.
func ParseRFC9421(signatureInput, sig []byte) (Params, error) {
	sigs := map[string][]byte{}
	p := sfParser{s: sig}
	p.skipSP()
	for !p.eof() {
		label, err := p.key()
		if err != nil {
			return Params{}, malformed9421("Signature", err)
		}
		if !p.peek('=') {
			return Params{}, malformed9421("Signature", p.errorf("expected '=:<base64>:' after label"))
		}
		p.i++
		kind, val, err := p.bareItem()
		if err == nil {
			err = p.params()
		}
		if err != nil {
			return Params{}, malformed9421("Signature", err)
		}
		if kind != ':' {
			return Params{}, malformed9421("Signature", p.errorf("signature is not a byte sequence"))
		}
		sigs[label] = val
		if err := p.nextMember(); err != nil {
			return Params{}, malformed9421("Signature", err)
		}
	}

	in := sfParser{s: signatureInput}
	in.skipSP()
	for !in.eof() {
		label, err := in.key()
		if err != nil {
			return Params{}, malformed9421("Signature-Input", err)
		}
		if !in.peek('=') || in.i+1 >= len(in.s) || in.s[in.i+1] != '(' {
			return Params{}, malformed9421("Signature-Input", in.errorf("expected '=(' after label"))
		}
		in.i++
		start := in.i
		pr, err := in.signatureParams()
		if err != nil {
			return Params{}, malformed9421("Signature-Input", err)
		}
		raw := string(in.s[start:in.i])
		if err := in.nextMember(); err != nil {
			return Params{}, malformed9421("Signature-Input", err)
		}
		b64, ok := sigs[label]
		if !ok {
			continue
		}
		if pr.KeyID == "" {
			return Params{}, fail(ReasonMalformedSignature, "RFC 9421 signature "+strconv.Quote(label)+" has no keyid parameter")
		}
		switch pr.Algorithm {
		case "", "rsa-v1_5-sha256", "rsa-pss-sha512", "ed25519":
		default:
			return Params{}, fail(ReasonUnsupportedAlgorithm,
				"alg "+quoteShort(pr.Algorithm)+" is not supported (want rsa-v1_5-sha256, rsa-pss-sha512 or ed25519)")
		}
		s, err := base64.StdEncoding.DecodeString(string(b64))
		if err != nil || len(s) == 0 {
			return Params{}, fail(ReasonMalformedSignature, "RFC 9421 signature "+strconv.Quote(label)+" is not base64")
		}
		pr.Signature = s
		pr.RFC9421 = true
		pr.Label = label
		pr.sigParams = raw
		return pr, nil
	}
	return Params{}, fail(ReasonMalformedSignature, "no Signature-Input label has a matching Signature")
}

func malformed9421(header string, err error) error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Reason: ReasonMalformedSignature, Detail: "malformed " + header + " header", Err: err}
}

// nextMember consumes the separator after a dictionary member.
func (p *sfParser) nextMember() error {
	p.skipOWS()
	if p.eof() {
		return nil
	}
	if !p.peek(',') {
		return p.errorf("expected ',' between members")
	}
	p.i++
	p.skipOWS()
	if p.eof() {
		return p.errorf("trailing comma")
	}
	return nil
}

// signatureParams parses `("comp" ...);created=..;keyid=".."...`.
func (p *sfParser) signatureParams() (Params, error) {
	var pr Params
	p.i++ // '('
	seen := map[string]bool{}
	for {
		p.skipSP()
		if p.eof() {
			return pr, p.errorf("unterminated component list")
		}
		if p.peek(')') {
			p.i++
			break
		}
		kind, val, err := p.bareItem()
		if err != nil {
			return pr, err
		}
		if kind != '"' {
			return pr, p.errorf("component identifiers must be strings")
		}
		if p.peek(';') {
			return pr, &Error{Reason: ReasonRFC9421Unsupported,
				Detail: "component parameters (" + quoteShort(string(val)) + ";...) are not supported"}
		}
		name := string(val)
		if seen[name] {
			return pr, p.errorf("component " + strconv.Quote(name) + " is listed twice")
		}
		if len(pr.Headers) >= maxSignedHeaders {
			return pr, p.errorf("too many components")
		}
		seen[name] = true
		pr.Headers = append(pr.Headers, name)
		if !p.peek(' ') && !p.peek(')') {
			return pr, p.errorf("expected ' ' or ')' in component list")
		}
	}
	for p.peek(';') {
		p.i++
		p.skipSP()
		key, err := p.key()
		if err != nil {
			return pr, err
		}
		var kind byte
		var val []byte
		if p.peek('=') {
			p.i++
			if kind, val, err = p.bareItem(); err != nil {
				return pr, err
			}
		}
		switch key {
		case "created", "expires":
			n, err := strconv.ParseInt(string(val), 10, 64)
			if kind != '0' || err != nil || n <= 0 {
				return pr, p.errorf(key + " is not a positive integer")
			}
			if key == "created" {
				pr.Created = n
			} else {
				pr.Expires = n
			}
		case "keyid":
			if kind != '"' {
				return pr, p.errorf("keyid is not a string")
			}
			pr.KeyID = string(val)
		case "alg":
			if kind != '"' {
				return pr, p.errorf("alg is not a string")
			}
			pr.Algorithm = string(val)
		}
	}
	return pr, nil
}

// checkRFC9421 is CheckHeaders for RFC 9421 signatures: the covered
// components must bind method, target and host, the signature must carry
// created, and a POST must cover a Content-Digest (or Digest) of its body.
func checkRFC9421(p Params, r *Request, c Checks) error {
	var method, target, authority, path, digest bool
	for _, h := range p.Headers {
		switch h {
		case "@method":
			method = true
		case "@target-uri":
			target = true
		case "@authority":
			authority = true
		case "@path", "@request-target":
			path = true
		case "content-digest", "digest":
			digest = true
		}
	}
	switch {
	case !method:
		return fail(ReasonMissingRequiredHeader, "@method is not covered by the RFC 9421 signature")
	case !target && !(authority && path):
		return fail(ReasonMissingRequiredHeader, "the RFC 9421 signature covers neither @target-uri nor @authority with @path")
	case p.Created == 0:
		return fail(ReasonMissingRequiredHeader, "the RFC 9421 signature has no created parameter")
	}
	now := c.Now
	if now.IsZero() {
		now = timeNow()
	}
	if err := inWindow(unix(p.Created), p.Expires != 0, p.Expires, now, "created"); err != nil {
		return err
	}
	if c.RequireDigest && !digest {
		if r.header("content-digest") != "" || r.header("digest") != "" {
			return fail(ReasonDigestUnsigned, "the body digest header is present but not covered by the signature, so it does not bind the body")
		}
		return fail(ReasonDigestMissing, "a POST must carry a covered Content-Digest of its body")
	}
	return checkDigests(p.Headers, r, c.Body)
}

// appendSignatureBase appends the RFC 9421 signature base (section 2.5).
func appendSignatureBase(b []byte, p Params, r *Request) ([]byte, error) {
	for _, h := range p.Headers {
		b = append(b, '"')
		b = append(b, h...)
		b = append(b, '"', ':', ' ')
		uri := requestPath(r.RequestURI)
		switch h {
		case "@method":
			b = append(b, r.Method...)
		case "@target-uri":
			b = append(b, "https://"...)
			b = appendAuthority(b, r)
			b = append(b, uri...)
		case "@authority":
			b = appendAuthority(b, r)
		case "@scheme":
			b = append(b, "https"...)
		case "@request-target":
			b = append(b, uri...)
		case "@path":
			path, _, _ := strings.Cut(uri, "?")
			b = append(b, path...)
		case "@query":
			_, q, _ := strings.Cut(uri, "?")
			b = append(b, '?')
			b = append(b, q...)
		default:
			if strings.HasPrefix(h, "@") {
				return nil, fail(ReasonRFC9421Unsupported, "derived component "+quoteShort(h)+" is not supported")
			}
			if lowerASCII(h) != h || h == "" {
				return nil, fail(ReasonMalformedSignature, "component "+quoteShort(h)+" is not a lowercase field name")
			}
			v := r.header(h)
			if h == "host" && v == "" {
				v = r.Host
			}
			if v == "" {
				return nil, fail(ReasonSignedHeaderAbsent, quoteShort(h)+" is covered by the signature but not in the request")
			}
			b = append(b, trimOWS(v)...)
		}
		b = append(b, '\n')
	}
	b = append(b, `"@signature-params": `...)
	return append(b, p.sigParams...), nil
}

// appendAuthority appends the request's host, lowercased, without the
// https default port (RFC 9421 section 2.2.3).
func appendAuthority(b []byte, r *Request) []byte {
	h := r.Host
	if h == "" {
		h = r.header("host")
	}
	h = strings.TrimSuffix(h, ":443")
	return append(b, lowerASCII(h)...)
}

func verifyRFC9421(p Params, r *Request, pub crypto.PublicKey) error {
	var buf [1024]byte
	base, err := appendSignatureBase(buf[:0], p, r)
	if err != nil {
		return err
	}
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch p.Algorithm {
		case "rsa-v1_5-sha256":
			ok = verifyRSAv15(k, base, p.Signature)
		case "rsa-pss-sha512":
			ok = verifyRSAPSS(k, base, p.Signature)
		case "":
			// No alg: the key type leaves two candidates. Mastodon signs
			// PKCS#1 v1.5, so try that first.
			ok = verifyRSAv15(k, base, p.Signature) || verifyRSAPSS(k, base, p.Signature)
		default:
			return fail(ReasonAlgorithmKeyMismatch, "alg "+quoteShort(p.Algorithm)+" does not match the actor's RSA key")
		}
	case ed25519.PublicKey:
		if p.Algorithm != "" && p.Algorithm != "ed25519" {
			return fail(ReasonAlgorithmKeyMismatch, "alg "+quoteShort(p.Algorithm)+" does not match the actor's Ed25519 key")
		}
		ok = len(k) == ed25519.PublicKeySize && ed25519.Verify(k, base, p.Signature)
	default:
		return fail(ReasonUnsupportedKey, "the actor's key type is not supported (want RSA or Ed25519)")
	}
	if !ok {
		return fail(ReasonBadSignature, "RFC 9421 signature does not verify with the key "+quoteShort(p.KeyID))
	}
	return nil
}

func verifyRSAv15(k *rsa.PublicKey, msg, sig []byte) bool {
	sum := sha256.Sum256(msg)
	return VerifyPKCS1v15SHA256(k, sum[:], sig)
}

func verifyRSAPSS(k *rsa.PublicKey, msg, sig []byte) bool {
	sum := sha512.Sum512(msg)
	return rsa.VerifyPSS(k, crypto.SHA512, sum[:], sig, &rsa.PSSOptions{SaltLength: 64, Hash: crypto.SHA512}) == nil
}
