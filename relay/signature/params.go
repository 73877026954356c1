package signature

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Params is a parsed draft-cavage Signature header.
//
// Params never aliases the header value it was parsed from (which may be
// the request's own buffer), so it outlives the request.
type Params struct {
	KeyID string
	// Algorithm is the lowercased algorithm label as sent, "" when absent.
	// An absent label behaves as "hs2019" (as Mastodon treats it).
	Algorithm string
	// Headers are the signed header names, lowercased, in signing order.
	// When the header omits headers=, the default applies: "date" for
	// algorithm rsa-sha256 and ed25519, "(created)" for hs2019 or no label.
	Headers []string
	// Signature is the decoded signature bytes.
	Signature []byte
	// Created and Expires are the created=/expires= parameters in Unix
	// seconds; 0 means absent.
	Created, Expires int64

	// RFC9421 marks a Signature-Input/Signature pair (RFC 9421); Headers
	// then holds the covered component identifiers ("@method",
	// "content-digest", ...), Algorithm the alg parameter, Label the
	// signature's dictionary label.
	RFC9421 bool
	Label   string
	// sigParams is the serialised signature parameters as received, the
	// last line of the RFC 9421 signature base.
	sigParams string
}

// maxSignedHeaders bounds the signed header list. Real senders list 3 to 7
// (Mastodon 5, older Pleroma adds user-agent and accept-encoding); the bound
// keeps a hostile header from making Verify do unbounded work.
const maxSignedHeaders = 32

// Request is a read-only view of an inbound request. The ingress fills it
// from fasthttp without copying the body; nothing here retains it.
type Request struct {
	Method string
	// RequestURI is the request target exactly as received: path plus an
	// optional ?query, not decoded, not normalised (signers sign the raw
	// bytes they sent).
	RequestURI string
	// Host is the Host header the request arrived with (fasthttp keeps it
	// apart from the other headers, as does net/http).
	Host string
	// Header returns the field value for a lowercase name, with multiple
	// occurrences joined by ", " (RFC 9110 field combination), or "" when
	// absent. An empty value is treated as absent.
	//
	// The value may alias the caller's request buffers (the ingress hands
	// out fasthttp's bytes without copying them): this package reads it
	// only during the call that asked for it, and ParseRequest copies the
	// one value Params keeps.
	Header func(lowerName string) string
}

// header is r.Header tolerating a nil func (no headers at all).
func (r *Request) header(name string) string {
	if r.Header == nil {
		return ""
	}
	return r.Header(name)
}

// ParseRequest finds the signature of r and parses it. A request carrying
// Signature-Input is RFC 9421 (ParseRFC9421); otherwise the draft-cavage
// Signature header, or failing that an "Authorization: Signature ..." header
// (the older form of the draft).
func ParseRequest(r *Request) (Params, error) {
	if si := r.header("signature-input"); si != "" {
		return ParseRFC9421([]byte(si), []byte(r.header("signature")))
	}
	s := r.header("signature")
	if s == "" {
		if a := r.header("authorization"); len(a) > len("Signature ") && strings.EqualFold(a[:len("Signature ")], "Signature ") {
			s = a
		}
	}
	if s == "" {
		return Params{}, fail(ReasonMissingSignature, "request has no Signature header")
	}
	return parse(s)
}

// ParseSignature parses a draft-cavage Signature header value (a leading
// "Signature " auth-scheme, as in the Authorization form, is accepted). It
// never panics; errors have reason malformed_signature,
// unsupported_algorithm, or rfc9421_unsupported for an RFC 9421 value.
func ParseSignature(h []byte) (Params, error) {
	return parse(string(h))
}

func parse(s string) (Params, error) {
	var p Params
	s = trimOWS(s)
	if len(s) > len("Signature ") && strings.EqualFold(s[:len("Signature ")], "Signature ") {
		s = s[len("Signature "):]
	}
	var haveKey, haveAlg, haveHeaders, haveSig, haveCreated, haveExpires bool
	var headers, sig string
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ',' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		name := s[start:i]
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) || s[i] != '=' {
			return Params{}, malformed("parameter " + quoteShort(name) + " has no value")
		}
		i++
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		var val string
		switch {
		case i < len(s) && s[i] == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return Params{}, malformed("unterminated quoted value of " + quoteShort(name))
			}
			val = s[i+1 : i+1+end]
			i += end + 2
		case i < len(s) && s[i] == ':':
			// sig1=:base64: is an RFC 9421 Signature value; it needs its
			// Signature-Input (use ParseRequest or ParseRFC9421).
			return Params{}, fail(ReasonRFC9421Unsupported,
				"Signature header is in RFC 9421 form; parse it together with Signature-Input (ParseRequest)")
		default:
			start := i
			for i < len(s) && s[i] != ',' && s[i] != ' ' && s[i] != '\t' {
				i++
			}
			val = s[start:i]
		}
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i < len(s) && s[i] != ',' {
			return Params{}, malformed("expected ',' after the value of " + quoteShort(name))
		}
		var dup bool
		switch {
		case strings.EqualFold(name, "keyId"):
			dup, haveKey, p.KeyID = haveKey, true, val
		case strings.EqualFold(name, "algorithm"):
			dup, haveAlg, p.Algorithm = haveAlg, true, lowerASCII(val)
		case strings.EqualFold(name, "headers"):
			dup, haveHeaders, headers = haveHeaders, true, val
		case strings.EqualFold(name, "signature"):
			dup, haveSig, sig = haveSig, true, val
		case strings.EqualFold(name, "created"):
			dup, haveCreated = haveCreated, true
			n, err := parseUnix(val)
			if err != nil {
				return Params{}, malformed("created=" + quoteShort(val) + " is not a Unix time")
			}
			p.Created = n
		case strings.EqualFold(name, "expires"):
			dup, haveExpires = haveExpires, true
			n, err := parseUnix(val)
			if err != nil {
				return Params{}, malformed("expires=" + quoteShort(val) + " is not a Unix time")
			}
			p.Expires = n
		default:
			// Unknown parameters are ignored, as the draft requires.
		}
		if dup {
			return Params{}, malformed("parameter " + quoteShort(name) + " appears twice")
		}
	}
	if p.KeyID == "" {
		return Params{}, malformed("keyId is missing or empty")
	}
	if sig == "" {
		return Params{}, malformed("signature is missing or empty")
	}
	// The label, the key id and the header names are copied out of s
	// (labels and common names as constants), so Params does not alias it.
	switch p.Algorithm {
	case "":
	case "hs2019":
		p.Algorithm = "hs2019"
	case "rsa-sha256":
		p.Algorithm = "rsa-sha256"
	case "ed25519":
		p.Algorithm = "ed25519"
	default:
		return Params{}, fail(ReasonUnsupportedAlgorithm,
			"algorithm "+quoteShort(p.Algorithm)+" is not supported (want rsa-sha256, hs2019 or ed25519)")
	}
	b, err := decodeBase64(sig)
	if err != nil || len(b) == 0 {
		return Params{}, malformed("signature is not base64")
	}
	p.Signature = b
	p.KeyID = strings.Clone(p.KeyID)
	if !haveHeaders {
		if p.Algorithm == "" || p.Algorithm == "hs2019" {
			p.Headers = []string{"(created)"}
		} else {
			p.Headers = []string{"date"}
		}
		return p, nil
	}
	headers = lowerASCII(headers)
	n := 0
	for f := range strings.FieldsSeq(headers) {
		for i := 0; i < len(f); i++ {
			if c := f[i]; c <= ' ' || c > '~' || c == '"' || c == ',' {
				return Params{}, malformed("headers lists an invalid name " + quoteShort(f))
			}
		}
		n++
	}
	if n == 0 {
		return Params{}, malformed("headers is empty")
	}
	if n > maxSignedHeaders {
		return Params{}, malformed("headers lists more than " + strconv.Itoa(maxSignedHeaders) + " names")
	}
	p.Headers = make([]string, 0, n)
	for f := range strings.FieldsSeq(headers) {
		p.Headers = append(p.Headers, headerName(f))
	}
	return p, nil
}

// headerName returns a signed header name as a string of its own: the
// names senders sign are constants, anything else a copy.
func headerName(f string) string {
	switch f {
	case "(request-target)":
		return "(request-target)"
	case "host":
		return "host"
	case "date":
		return "date"
	case "digest":
		return "digest"
	case "content-type":
		return "content-type"
	case "content-length":
		return "content-length"
	case "content-digest":
		return "content-digest"
	case "user-agent":
		return "user-agent"
	case "accept":
		return "accept"
	case "accept-encoding":
		return "accept-encoding"
	case "(created)":
		return "(created)"
	case "(expires)":
		return "(expires)"
	}
	return strings.Clone(f)
}

func malformed(detail string) error {
	return &Error{Reason: ReasonMalformedSignature, Detail: "malformed Signature header: " + detail}
}

func parseUnix(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err == nil && n <= 0 {
		err = strconv.ErrRange
	}
	return n, err
}

// decodeBase64 accepts standard base64 with or without padding; some
// senders strip the '=' padding.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawStdEncoding.DecodeString(s)
}

// quoteShort quotes untrusted text for an error detail, cut to a length a
// log line can carry.
func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}

// lowerASCII lowercases ASCII letters, returning s itself (no allocation)
// when it has none to change.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
