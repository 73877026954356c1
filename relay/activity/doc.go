// Package activity is Palisade's ActivityStreams wire format. Parse is
// the ingress's cheap parse of an inbound ActivityPub activity: one pass
// over the JSON body that validates the whole document and extracts only
// what the early pipeline stages need (id, type, actor, object
// id/type/attributedTo, addressing, published). DecodeActivity,
// DecodeObject, DecodeActor and DecodeCollection are the full, slower
// model the instance consumes after the ingress has accepted a body
// (model.go, decode.go); EncodeActivity and friends, with the builders in
// build.go, produce what Palisade sends (encode.go).
//
// The rest of this comment is about Parse.
//
// It is deliberately not a JSON-LD processor and not encoding/json: the
// body is scanned once, unneeded values are syntax-checked and skipped, and
// only the extracted strings are allocated. BenchmarkParse measures it on a
// 2 KiB Mastodon Create(Note).
//
// It refuses documents that different JSON consumers could read
// differently: a repeated key among the extracted ones, or a key that
// differs from one of them only in letter case (encoding/json matches struct
// fields case-insensitively and keeps the last duplicate, so {"actor":A,
// "Actor":B} would be actor A here and actor B downstream).
package activity
