package signature

import (
	"crypto/sha256"
	"net/http"
	"strconv"
	"time"
)

// Time window, as Mastodon enforces it (app/controllers/concerns/
// signature_verification.rb): a signature is valid from created until
// expiry, with an hour of clock skew tolerated on both sides.
const (
	clockSkew       = time.Hour       // tolerated either side
	defaultLifetime = 5 * time.Minute // expiry when no (expires) is signed
	maxLifetime     = 12 * time.Hour  // cap on a sender-chosen expiry
)

// Checks are the request-level facts CheckHeaders needs beyond the headers.
type Checks struct {
	// Now is the verifier's clock; zero means time.Now().
	Now time.Time
	// RequireDigest demands a signed body digest; set it for POST.
	RequireDigest bool
	// Body is the raw request body as received, hashed for the digest
	// check. It is only read during the call.
	Body []byte
}

// CheckHeaders enforces everything about a signed request that the
// signature bytes do not:
//
//   - (request-target) and host are signed; date or (created) is signed;
//   - the signature is inside its time window: created (from (created) when
//     signed, else the Date header) at most 1 h in the future, and now at
//     most 1 h past expiry, where expiry is the signed (expires) or created +
//     5 min, capped at created + 12 h; when both (created) and date are
//     signed, both must be in the window;
//   - when c.RequireDigest, a Digest or Content-Digest header is present and
//     in the signed list (a digest that is present but unsigned proves
//     nothing: reason digest_unsigned);
//   - every signed digest header matches SHA-256 of c.Body.
//
// CheckHeaders does no public-key work; call it before resolving the key.
// host is required on every method, not only GET as Mastodon does: without
// it a POST signed for one server replays against another within the
// window, and every sender we know of (Mastodon, GoToSocial, Akkoma,
// Misskey, Lemmy, Friendica) signs it anyway.
//
// For RFC 9421 signatures the equivalents apply: @method and either
// @target-uri or @authority with @path covered, a created parameter in the
// same window (expires, always signed there, is honoured), and a covered
// Content-Digest (or Digest) on POST.
func CheckHeaders(p Params, r *Request, c Checks) error {
	if p.RFC9421 {
		return checkRFC9421(p, r, c)
	}
	var target, host, date, created, expires, digest, contentDigest bool
	for _, h := range p.Headers {
		switch h {
		case "(request-target)":
			target = true
		case "host":
			host = true
		case "date":
			date = true
		case "(created)":
			created = true
		case "(expires)":
			expires = true
		case "digest":
			digest = true
		case "content-digest":
			contentDigest = true
		}
	}
	switch {
	case !target:
		return fail(ReasonMissingRequiredHeader, "(request-target) is not in the signed headers; the signature must cover method and path")
	case !host:
		return fail(ReasonMissingRequiredHeader, "host is not in the signed headers; the signature must cover the destination host")
	case !date && !created:
		return fail(ReasonMissingRequiredHeader, "neither date nor (created) is in the signed headers; the signature must be dated")
	}

	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	if expires && p.Expires == 0 {
		return malformed("(expires) is signed but the expires parameter is missing")
	}
	if created {
		if p.Created == 0 {
			return malformed("(created) is signed but the created parameter is missing")
		}
		if err := inWindow(time.Unix(p.Created, 0), expires, p.Expires, now, "(created)"); err != nil {
			return err
		}
	}
	if date {
		d := r.header("date")
		if d == "" {
			return fail(ReasonSignedHeaderAbsent, "date is signed but the request has no Date header")
		}
		t, err := http.ParseTime(d)
		if err != nil {
			return fail(ReasonBadDate, "Date header "+quoteShort(d)+" is not an HTTP date (want e.g. \"Sun, 06 Nov 1994 08:49:37 GMT\")")
		}
		if err := inWindow(t, expires, p.Expires, now, "Date"); err != nil {
			return err
		}
	}

	if c.RequireDigest && !((digest && r.header("digest") != "") || (contentDigest && r.header("content-digest") != "")) {
		if r.header("digest") != "" || r.header("content-digest") != "" {
			return fail(ReasonDigestUnsigned, "the body digest header is present but not in the signed headers, so it does not bind the body")
		}
		return fail(ReasonDigestMissing, "a POST must carry a signed Digest (or Content-Digest) of its body")
	}
	return checkDigests(p.Headers, r, c.Body)
}

// checkDigests compares every signed, present digest header with the body.
func checkDigests(signed []string, r *Request, body []byte) error {
	var dg, cd string
	for _, h := range signed {
		switch h {
		case "digest":
			dg = r.header("digest")
		case "content-digest":
			cd = r.header("content-digest")
		}
	}
	if dg == "" && cd == "" {
		return nil
	}
	sum := sha256.Sum256(body)
	if dg != "" {
		got, ok, err := parseDigest(dg)
		if err != nil {
			return &Error{Reason: ReasonMalformedDigest, Detail: "malformed Digest header", Err: err}
		}
		if !ok {
			return fail(ReasonUnsupportedDigest, "Digest has no SHA-256 value; only SHA-256 is supported")
		}
		if got != sum {
			return fail(ReasonDigestMismatch, "body does not match the SHA-256 in Digest (was the body altered or re-serialised?)")
		}
	}
	if cd != "" {
		got, ok, err := ParseContentDigest([]byte(cd))
		if err != nil {
			return &Error{Reason: ReasonMalformedDigest, Detail: "malformed Content-Digest header", Err: err}
		}
		if !ok {
			return fail(ReasonUnsupportedDigest, "Content-Digest has no sha-256 value; only sha-256 is supported")
		}
		if got != sum {
			return fail(ReasonDigestMismatch, "body does not match the sha-256 in Content-Digest (was the body altered or re-serialised?)")
		}
	}
	return nil
}

var timeNow = time.Now

func unix(sec int64) time.Time { return time.Unix(sec, 0) }

func inWindow(created time.Time, signedExpires bool, expiresUnix int64, now time.Time, what string) error {
	if created.After(now.Add(clockSkew)) {
		return fail(ReasonDateOutOfWindow, what+" is more than 1h in the future ("+strconv.FormatInt(int64(created.Sub(now)/time.Second), 10)+"s ahead); check the sender's clock")
	}
	expiry := created.Add(defaultLifetime)
	if signedExpires {
		expiry = time.Unix(expiresUnix, 0)
	}
	if limit := created.Add(maxLifetime); expiry.After(limit) {
		expiry = limit
	}
	if now.After(expiry.Add(clockSkew)) {
		return fail(ReasonDateOutOfWindow, "signature expired ("+what+" is "+strconv.FormatInt(int64(now.Sub(created)/time.Second), 10)+"s old); it may be a replay")
	}
	return nil
}
