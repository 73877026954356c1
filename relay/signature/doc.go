// Package signature verifies and produces the draft-cavage HTTP signatures
// that the fediverse uses to authenticate server-to-server requests
// (Mastodon, GoToSocial, Akkoma, Misskey, the common relays).
//
// The ingress uses it in three steps, cheapest first:
//
//  1. ParseRequest (or ParseSignature) reads the Signature header: keyId,
//     algorithm, the signed header list. No crypto, a few small allocations.
//  2. CheckHeaders enforces what the signature itself cannot: the required
//     headers are present and signed, the Date/(created) time window, and the
//     body digest (Digest or RFC 9530 Content-Digest) against the raw body.
//  3. Verify checks the signature over exactly the listed headers with the
//     public key of the keyId, choosing the algorithm from the key type.
//
// Every error carries a stable Reason (see ReasonOf) meant for metric labels.
//
// The package knows nothing of fasthttp: Request is a read-only view that the
// ingress fills without copying the body.
//
// RFC 9421 (Signature-Input + Signature, as newer Mastodon sends) goes
// through the same three steps: ParseRequest returns Params with RFC9421
// set, and CheckHeaders/Verify apply the RFC 9421 rules (signature base of
// section 2.5; rsa-v1_5-sha256, rsa-pss-sha512, ed25519). Features outside
// that scope (component parameters such as ;sf or ;req, @query-param,
// @status, HMAC) are refused with reason "rfc9421_unsupported".
//
// Why not github.com/go-fed/httpsig for the check itself: its verifier
// compares (created)/(expires) to time.Now() with a 10-second skew, which
// rejects requests PROTOCOL.md says to accept (created up to 1 h ahead, expiry
// plus 1 h); it hashes the decoded URL path rather than the path as received;
// and its signer always labels the algorithm "hs2019", which Misskey once
// refused. The tests use httpsig as an independent implementation: requests it
// signs verify here, and requests signed here verify with it.
package signature
