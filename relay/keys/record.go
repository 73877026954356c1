package keys

import (
	"crypto/x509"
	"encoding/binary"
	"errors"
	"time"
)

// Record encoding for the persistent Store. Version 1:
//
//	0x01 | uvarint len(owner) | owner | PKIX DER of the public key
//
// Version 2 adds the owner's profile before the key:
//
//	0x02 | uvarint len(owner) | owner | varint published (unix s, 0 unknown) |
//	uvarint len(username) | username | uvarint len(name) | name | PKIX DER
//
// The store stamps the storage time itself (it becomes FetchedAt). Both
// versions are read; version 2 is written.
const (
	recordV1 = 0x01
	recordV2 = 0x02
)

// EncodeRecord serialises k for Store.PutKey.
func EncodeRecord(k *Key) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return nil, err
	}
	p := k.Profile
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+len(k.Owner)+len(p.Username)+len(p.DisplayName)+len(der))
	b = append(b, recordV2)
	b = binary.AppendUvarint(b, uint64(len(k.Owner)))
	b = append(b, k.Owner...)
	var pub int64
	if !p.Published.IsZero() {
		pub = p.Published.Unix()
	}
	b = binary.AppendVarint(b, pub)
	b = binary.AppendUvarint(b, uint64(len(p.Username)))
	b = append(b, p.Username...)
	b = binary.AppendUvarint(b, uint64(len(p.DisplayName)))
	b = append(b, p.DisplayName...)
	return append(b, der...), nil
}

// DecodeRecord is the inverse of EncodeRecord; keyID and storedAt fill in
// what the record does not carry.
func DecodeRecord(keyID string, rec []byte, storedAt time.Time) (*Key, error) {
	if len(rec) < 2 || (rec[0] != recordV1 && rec[0] != recordV2) {
		return nil, errors.New("keys: stored key record has an unknown version")
	}
	truncated := errors.New("keys: stored key record is truncated")
	b := rec[1:]
	str := func() (string, bool) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return "", false
		}
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return s, true
	}
	owner, ok := str()
	if !ok {
		return nil, truncated
	}
	var prof Profile
	if rec[0] == recordV2 {
		pub, w := binary.Varint(b)
		if w <= 0 {
			return nil, truncated
		}
		b = b[w:]
		if pub != 0 {
			prof.Published = time.Unix(pub, 0).UTC()
		}
		if prof.Username, ok = str(); !ok {
			return nil, truncated
		}
		if prof.DisplayName, ok = str(); !ok {
			return nil, truncated
		}
	}
	pub, err := x509.ParsePKIXPublicKey(b)
	if err != nil {
		return nil, errors.New("keys: stored key record holds no valid key: " + err.Error())
	}
	return &Key{ID: keyID, Owner: owner, Public: pub, FetchedAt: storedAt, Profile: prof}, nil
}
