package signature

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sign signs an outbound request draft-cavage style and sets its Signature
// header. It sets Date to now first when hdr has none.
//
// headers is the signed list (lowercase names, "(request-target)",
// "(created)", "(expires)" allowed); nil means "(request-target) host date",
// plus "digest" when hdr carries a Digest. For a POST the caller MUST set
// Digest (DigestHeader(body)) before calling and list it. host is the
// destination authority; it is signed as "host" and the caller must send
// the same Host. requestURI is path plus optional ?query as it will be sent.
//
// RSA keys are labelled algorithm="rsa-sha256", never "hs2019": Misskey
// once refused the hs2019 label. Ed25519 keys are labelled "ed25519".
// (expires), when listed, is created + 5 minutes.
func Sign(method, requestURI, host string, hdr http.Header, keyID string, priv crypto.PrivateKey, headers []string, now time.Time) error {
	if strings.ContainsAny(keyID, "\"\r\n") {
		return fail(ReasonSigningFailed, "keyId "+quoteShort(keyID)+" contains a quote or newline")
	}
	if hdr.Get("Date") == "" {
		hdr.Set("Date", now.UTC().Format(http.TimeFormat))
	}
	if headers == nil {
		headers = []string{"(request-target)", "host", "date"}
		if hdr.Get("Digest") != "" {
			headers = append(headers, "digest")
		}
	}
	p := Params{KeyID: keyID, Headers: make([]string, len(headers))}
	for i, h := range headers {
		p.Headers[i] = strings.ToLower(h)
		switch p.Headers[i] {
		case "(created)":
			p.Created = now.Unix()
		case "(expires)":
			p.Expires = now.Add(defaultLifetime).Unix()
		}
	}
	r := &Request{
		Method:     method,
		RequestURI: requestURI,
		Host:       host,
		Header: func(name string) string {
			return strings.Join(hdr.Values(name), ", ")
		},
	}
	msg, err := appendSigningString(nil, p, r, true)
	if err != nil {
		return err
	}
	var sig []byte
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		p.Algorithm = "rsa-sha256"
		sum := sha256.Sum256(msg)
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
		if err != nil {
			return &Error{Reason: ReasonSigningFailed, Detail: "RSA signing failed", Err: err}
		}
	case ed25519.PrivateKey:
		p.Algorithm = "ed25519"
		sig = ed25519.Sign(k, msg)
	default:
		return fail(ReasonSigningFailed, "private key type is not supported (want *rsa.PrivateKey or ed25519.PrivateKey)")
	}
	var b strings.Builder
	b.WriteString(`keyId="`)
	b.WriteString(keyID)
	b.WriteString(`",algorithm="`)
	b.WriteString(p.Algorithm)
	b.WriteString(`",headers="`)
	b.WriteString(strings.Join(p.Headers, " "))
	b.WriteString(`",signature="`)
	b.WriteString(base64.StdEncoding.EncodeToString(sig))
	b.WriteByte('"')
	if p.Created != 0 {
		b.WriteString(",created=")
		b.WriteString(strconv.FormatInt(p.Created, 10))
	}
	if p.Expires != 0 {
		b.WriteString(",expires=")
		b.WriteString(strconv.FormatInt(p.Expires, 10))
	}
	hdr.Set("Signature", b.String())
	return nil
}
