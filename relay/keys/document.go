package keys

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// publicKey is the AS "publicKey" object (W3C security vocabulary).
type publicKey struct {
	ID           string          `json:"id"`
	Type         json.RawMessage `json:"type"`
	Owner        string          `json:"owner"`
	Controller   string          `json:"controller"`
	PublicKeyPem string          `json:"publicKeyPem"`
}

// document is either an actor carrying publicKey, or a key document.
type document struct {
	ID        string          `json:"id"`
	Type      json.RawMessage `json:"type"`
	PublicKey json.RawMessage `json:"publicKey"`
	publicKey                 // a key document's own fields
	// Actor profile fields, kept with the key because the policy asks about
	// them on every activity (account age, username == display name).
	Published         string `json:"published"`
	PreferredUsername string `json:"preferredUsername"`
	Name              string `json:"name"`
}

// Profile is what an actor document says about its account, as far as
// the policy engine cares. Zero fields are unknown.
type Profile struct {
	Published   time.Time // the account's creation on its server
	Username    string    // preferredUsername
	DisplayName string    // name
}

func (d *document) profile() Profile {
	p := Profile{Username: d.PreferredUsername, DisplayName: d.Name}
	if t, err := time.Parse(time.RFC3339, d.Published); err == nil {
		p.Published = t.UTC()
	}
	return p
}

// ParseProfile reads the profile fields of an actor document.
func ParseProfile(actorDoc []byte) Profile {
	var d document
	if json.Unmarshal(actorDoc, &d) != nil {
		return Profile{}
	}
	return d.profile()
}

// Document is what a fetched document says about a key.
type Document struct {
	// Owner is the actor that owns the key.
	Owner string
	// Public is the parsed key (*rsa.PublicKey or ed25519.PublicKey).
	Public crypto.PublicKey
	// IsActor is true when the document is the owner's actor document
	// itself, which proves ownership; a standalone key document (GoToSocial
	// serves one at the keyId) only claims an owner, and the claim must be
	// confirmed against the owner's actor document.
	IsActor bool
	// Profile is the owner's profile when the document is the actor's
	// own (or was confirmed against it).
	Profile Profile
}

// ParseDocument finds the key keyID in a fetched JSON document, which may
// be:
//
//   - an actor whose "publicKey" is an object or an array of objects (the one
//     whose "id" equals keyID is taken; Mastodon and most servers);
//   - an actor whose id equals keyID and that has exactly one key (some
//     servers sign with the actor id as keyId);
//   - a key document ("type" Key or CryptographicKey, or any object with
//     publicKeyPem) whose id equals keyID, naming its "owner" (or
//     "controller").
//
// publicKeyPem may be PKIX ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY"); both
// occur in the wild. RSA keys under 2048 bits are refused.
func ParseDocument(doc []byte, keyID string) (Document, error) {
	var d document
	if err := json.Unmarshal(doc, &d); err != nil {
		return Document{}, fmt.Errorf("keys: key document is not a JSON object: %w", err)
	}
	if len(d.PublicKey) > 0 && !bytes.Equal(d.PublicKey, []byte("null")) {
		var keys []publicKey
		if d.PublicKey[0] == '[' {
			if err := json.Unmarshal(d.PublicKey, &keys); err != nil {
				return Document{}, fmt.Errorf("keys: actor publicKey array is malformed: %w", err)
			}
		} else {
			var k publicKey
			if err := json.Unmarshal(d.PublicKey, &k); err != nil {
				return Document{}, fmt.Errorf("keys: actor publicKey is malformed: %w", err)
			}
			keys = []publicKey{k}
		}
		if d.ID == "" {
			return Document{}, errors.New("keys: actor document has no id")
		}
		for _, k := range keys {
			if k.ID == keyID || (d.ID == keyID && len(keys) == 1) {
				owner := k.Owner
				if owner == "" {
					owner = k.Controller
				}
				if owner != "" && owner != d.ID {
					return Document{}, fmt.Errorf("keys: key %q in actor %q names another owner %q", keyID, d.ID, owner)
				}
				pub, err := parsePEM(k.PublicKeyPem)
				if err != nil {
					return Document{}, err
				}
				return Document{Owner: d.ID, Public: pub, IsActor: true, Profile: d.profile()}, nil
			}
		}
		return Document{}, fmt.Errorf("keys: actor %q does not list key %q", d.ID, keyID)
	}
	if d.PublicKeyPem == "" {
		return Document{}, fmt.Errorf("keys: document %q has neither publicKey nor publicKeyPem", d.ID)
	}
	if d.ID != keyID {
		return Document{}, fmt.Errorf("keys: key document id %q is not the keyId %q", d.ID, keyID)
	}
	owner := d.Owner
	if owner == "" {
		owner = d.Controller
	}
	if owner == "" {
		return Document{}, fmt.Errorf("keys: key document %q names no owner", keyID)
	}
	pub, err := parsePEM(d.PublicKeyPem)
	if err != nil {
		return Document{}, err
	}
	return Document{Owner: owner, Public: pub}, nil
}

// ListsKey reports whether an actor document lists keyID among its
// publicKey entries: how a key document's owner claim is confirmed.
func ListsKey(actorDoc []byte, owner, keyID string) bool {
	var d document
	if json.Unmarshal(actorDoc, &d) != nil || d.ID != owner || len(d.PublicKey) == 0 {
		return false
	}
	var keys []publicKey
	if d.PublicKey[0] == '[' {
		if json.Unmarshal(d.PublicKey, &keys) != nil {
			return false
		}
	} else if d.PublicKey[0] == '"' {
		// "publicKey": "https://..." (a bare reference)
		var ref string
		return json.Unmarshal(d.PublicKey, &ref) == nil && ref == keyID
	} else {
		var k publicKey
		if json.Unmarshal(d.PublicKey, &k) != nil {
			return false
		}
		keys = []publicKey{k}
	}
	for _, k := range keys {
		if k.ID == keyID {
			return true
		}
	}
	return false
}

const minRSABits = 2048

func parsePEM(s string) (crypto.PublicKey, error) {
	if s == "" {
		return nil, errors.New("keys: publicKeyPem is empty")
	}
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, errors.New("keys: publicKeyPem is not PEM")
	}
	// Try both encodings whatever the label says: senders mislabel.
	var pub crypto.PublicKey
	if k, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		pub = k
	} else if k, err2 := x509.ParsePKCS1PublicKey(block.Bytes); err2 == nil {
		pub = k
	} else {
		return nil, fmt.Errorf("keys: publicKeyPem (%s) is neither PKIX nor PKCS#1: %w", block.Type, err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("keys: RSA key of %d bits is too weak (want at least %d)", k.N.BitLen(), minRSABits)
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("keys: public key type %T is not supported (want RSA or Ed25519)", pub)
	}
	return pub, nil
}
