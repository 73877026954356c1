package keys

import (
	"crypto/x509"
	"encoding/binary"
	"errors"
	"time"
)

// Record encoding for the persistent Store, version 1:
//
//	0x01 | uvarint len(owner) | owner | PKIX DER of the public key
//
// The store stamps the storage time itself (it becomes FetchedAt).
const recordV1 = 0x01

// EncodeRecord serialises k for Store.PutKey.
func EncodeRecord(k *Key) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(k.Owner)+len(der))
	b = append(b, recordV1)
	b = binary.AppendUvarint(b, uint64(len(k.Owner)))
	b = append(b, k.Owner...)
	return append(b, der...), nil
}

// DecodeRecord is the inverse of EncodeRecord; keyID and storedAt fill in
// what the record does not carry.
func DecodeRecord(keyID string, rec []byte, storedAt time.Time) (*Key, error) {
	if len(rec) < 2 || rec[0] != recordV1 {
		return nil, errors.New("keys: stored key record has an unknown version")
	}
	n, w := binary.Uvarint(rec[1:])
	if w <= 0 || n > uint64(len(rec)-1-w) {
		return nil, errors.New("keys: stored key record is truncated")
	}
	owner := string(rec[1+w : 1+w+int(n)])
	pub, err := x509.ParsePKIXPublicKey(rec[1+w+int(n):])
	if err != nil {
		return nil, errors.New("keys: stored key record holds no valid key: " + err.Error())
	}
	return &Key{ID: keyID, Owner: owner, Public: pub, FetchedAt: storedAt}, nil
}
