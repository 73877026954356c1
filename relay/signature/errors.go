package signature

import "errors"

// Reason codes carried by *Error. They are stable short strings meant as
// Prometheus label values; never build one from request data.
const (
	ReasonMissingSignature      = "missing_signature"       // no Signature header at all
	ReasonMalformedSignature    = "malformed_signature"     // Signature header does not parse
	ReasonUnsupportedAlgorithm  = "unsupported_algorithm"   // algorithm label we do not verify
	ReasonUnsupportedKey        = "unsupported_key"         // public key type we cannot verify with
	ReasonAlgorithmKeyMismatch  = "algorithm_key_mismatch"  // e.g. algorithm="ed25519" with an RSA key
	ReasonMissingRequiredHeader = "missing_required_header" // (request-target), host, date/(created) not signed
	ReasonSignedHeaderAbsent    = "signed_header_absent"    // a listed header is not in the request
	ReasonBadDate               = "bad_date"                // Date header does not parse
	ReasonDateOutOfWindow       = "date_out_of_window"      // too far in the future or expired
	ReasonDigestMissing         = "digest_missing"          // POST without Digest/Content-Digest
	ReasonDigestUnsigned        = "digest_unsigned"         // digest present but not in the signed list
	ReasonMalformedDigest       = "malformed_digest"        // Digest/Content-Digest does not parse
	ReasonUnsupportedDigest     = "unsupported_digest"      // digest header without a sha-256 value
	ReasonDigestMismatch        = "digest_mismatch"         // body does not hash to the digest
	ReasonBadSignature          = "bad_signature"           // cryptographic check failed
	ReasonRFC9421Unsupported    = "rfc9421_unsupported"     // RFC 9421 feature outside our scope, or an RFC 9421 Signature without its Signature-Input
	ReasonSigningFailed         = "signing_failed"          // Sign could not produce a signature
)

// Error is the error type of this package. Reason is one of the Reason*
// constants; Detail says what exactly was wrong and is safe to log (it may
// quote header names, never secrets).
type Error struct {
	Reason string
	Detail string
	Err    error // optional cause
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "signature: " + e.Detail + ": " + e.Err.Error()
	}
	return "signature: " + e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

func fail(reason, detail string) error { return &Error{Reason: reason, Detail: detail} }

// ReasonOf returns the Reason of the first *Error in err's chain, "" for a
// nil error, and "other" for an error that did not come from this package.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return "other"
}
