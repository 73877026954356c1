package web

import (
	"net/http"
	"strings"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/signature"
)

// Fetcher is the verified signer of a signed GET.
type Fetcher struct {
	// Actor is the key's owner, as its actor document says.
	Actor string
	// Host is the keyId's host (lower case, no port): what the domain
	// gate judged.
	Host string
	// Account is the signer's stored account, nil when this server has
	// never stored it (it then follows nobody here and sees only public
	// and unlisted statuses).
	Account *data.Account
}

// signedRequest is the signature package's view of a net/http request.
// RequestURI is the target as received (net/http and fasthttpadaptor keep
// it raw), which is what the peer signed.
func signedRequest(r *http.Request) *signature.Request {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	return &signature.Request{Method: r.Method, RequestURI: uri, Host: r.Host,
		Header: func(name string) string { return strings.Join(r.Header.Values(name), ", ") }}
}

func isSigned(r *http.Request) bool {
	return r.Header.Get("Signature") != "" || r.Header.Get("Signature-Input") != "" ||
		strings.HasPrefix(r.Header.Get("Authorization"), "Signature ")
}

// fetcher authenticates an ActivityStreams GET. It returns nil for an
// unsigned request when authorized fetch is off (an anonymous reader); an
// unsigned request when it is on is 401. A signed request must verify
// (cavage or RFC 9421, through relay/signature, with the key from
// Options.Keys and one re-fetch for a rotated key), be signed for this
// host, within its time window, and come from a domain that is not
// suspended (403), else it is refused: a signature that does not verify
// is never downgraded to an anonymous read. The one leniency: without
// authorized fetch, a signer whose key cannot be obtained is served as
// anonymous.
func (h *Handler) fetcher(r *http.Request) (*Fetcher, error) {
	if !isSigned(r) {
		if h.o.AuthorizedFetch {
			return nil, errorf(http.StatusUnauthorized, "this server requires signed fetches (authorized fetch): sign the GET with your actor's key")
		}
		return nil, nil
	}
	if h.o.Keys == nil {
		return nil, nil // cannot verify: serve as anonymous (AuthorizedFetch requires Keys)
	}
	sr := signedRequest(r)
	p, err := signature.ParseRequest(sr)
	if err != nil {
		return nil, &Error{Status: http.StatusUnauthorized, Msg: "malformed signature: " + signature.ReasonOf(err), Err: err}
	}
	keyHost, err := activity.Hostname(p.KeyID)
	if err != nil {
		return nil, errorf(http.StatusUnauthorized, "the keyId is not an absolute http(s) URL")
	}
	if h.o.Suspended != nil && h.o.Suspended(keyHost) {
		return nil, errorf(http.StatusForbidden, "refused")
	}
	if err := signature.CheckHeaders(p, sr, signature.Checks{Now: h.now()}); err != nil {
		return nil, &Error{Status: http.StatusUnauthorized, Msg: "signature refused: " + signature.ReasonOf(err), Err: err}
	}
	if !sameHost(r.Host, h.host) {
		return nil, errorf(http.StatusUnauthorized, "the signed Host header does not name this server")
	}
	ctx := r.Context()
	key, _, err := h.o.Keys.Resolve(ctx, p.KeyID)
	if err != nil {
		if !h.o.AuthorizedFetch {
			// Without authorized fetch an unverifiable signer is served
			// what anyone is (public documents): Mastodon signs every fetch
			// with its instance actor, and a peer whose key we cannot reach
			// right now should still read public posts.
			return nil, nil
		}
		return nil, &Error{Status: http.StatusUnauthorized, Msg: "could not obtain the signing key", Err: err}
	}
	if err := signature.Verify(p, sr, key.Public); err != nil {
		fresh, ferr := h.o.Keys.Refetch(ctx, p.KeyID)
		if ferr != nil || signature.Verify(p, sr, fresh.Public) != nil {
			return nil, &Error{Status: http.StatusUnauthorized, Msg: "signature does not verify", Err: err}
		}
		key = fresh
	}
	if ownerHost, err := activity.Hostname(key.Owner); err != nil || ownerHost != keyHost {
		return nil, errorf(http.StatusUnauthorized, "the key's owner is not on the keyId's host")
	}
	f := &Fetcher{Actor: key.Owner, Host: keyHost}
	a, err := h.st.GetAccountByURI(ctx, key.Owner)
	switch {
	case err == nil:
		if a.SuspendedAt != nil {
			return nil, errorf(http.StatusForbidden, "refused")
		}
		f.Account = a
	case data.KindOf(err) != data.NotFound:
		return nil, err
	}
	return f, nil
}

// viewer is the fetcher's account, nil for anonymous readers.
func (f *Fetcher) viewer() *data.Account {
	if f == nil {
		return nil
	}
	return f.Account
}
