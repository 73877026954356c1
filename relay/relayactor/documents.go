package relayactor

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/palisade-fedi/palisade/relay/activity"
)

const asContext = "https://www.w3.org/ns/activitystreams"

// followRef is a Follow as the relay answers it. Mastodon matches an
// Accept to its Follow by id alone; LitePub also reads actor and object.
type followRef struct {
	Context string `json:"@context,omitempty"`
	ID      string `json:"id"`
	Type    string `json:"type"`
	Actor   string `json:"actor"`
	Object  string `json:"object"`
}

// answer is an Accept or Reject of a Follow, or an Undo of the relay's own
// Follow.
type answer struct {
	Context string    `json:"@context"`
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Actor   string    `json:"actor"`
	Object  followRef `json:"object"`
	To      []string  `json:"to"`
}

// announce is the relay's wrapping of a relayed post.
type announce struct {
	Context   string   `json:"@context"`
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	Actor     string   `json:"actor"`
	Object    string   `json:"object"`
	To        []string `json:"to"`
	Published string   `json:"published"`
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:12])
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// answerFollow builds an Accept or Reject (typ) of f, addressed to its
// actor. The id is derived from the Follow's, so a resent answer (the
// inbound queue is at-least-once) carries the same id.
func (r *Relay) answerFollow(typ string, f followRef) []byte {
	f.Context = ""
	if f.Type == "" {
		f.Type = "Follow"
	}
	b, _ := json.Marshal(answer{Context: asContext, ID: r.actorID + "#" + typ + "/" + shortHash(f.ID), Type: typ,
		Actor: r.actorID, Object: f, To: []string{f.Actor}})
	return b
}

// followBack builds the relay's Follow of a LitePub relay actor.
func (r *Relay) followBack(target string) (id string, body []byte) {
	id = r.actorID + "#follows/" + randomID()
	b, _ := json.Marshal(followRef{Context: asContext, ID: id, Type: "Follow", Actor: r.actorID, Object: target})
	return id, b
}

// undoFollowBack builds the Undo of the relay's Follow id of target.
func (r *Relay) undoFollowBack(id, target string) []byte {
	b, _ := json.Marshal(answer{Context: asContext, ID: id + "/undo", Type: "Undo", Actor: r.actorID,
		Object: followRef{ID: id, Type: "Follow", Actor: r.actorID, Object: target}, To: []string{target}})
	return b
}

// announceOf wraps objectID in the relay's Announce. key is the relayed
// key: the same post always gets the same Announce id.
func (r *Relay) announceOf(key, objectID string, now time.Time) []byte {
	b, _ := json.Marshal(announce{Context: asContext, ID: r.o.BaseURL + "/actor/announces/" + shortHash(key),
		Type: "Announce", Actor: r.actorID, Object: objectID, To: []string{r.follower},
		Published: now.UTC().Format(time.RFC3339)})
	return b
}

// actorDocument is the relay actor as served at /actor.
type actorDocument struct {
	Context           []any          `json:"@context"`
	ID                string         `json:"id"`
	Type              string         `json:"type"`
	PreferredUsername string         `json:"preferredUsername"`
	Name              string         `json:"name"`
	Summary           string         `json:"summary"`
	URL               string         `json:"url"`
	Inbox             string         `json:"inbox"`
	Outbox            string         `json:"outbox"`
	Followers         string         `json:"followers"`
	Following         string         `json:"following"`
	Endpoints         map[string]any `json:"endpoints"`
	PublicKey         map[string]any `json:"publicKey"`
	ManuallyApproves  bool           `json:"manuallyApprovesFollowers"`
	Discoverable      bool           `json:"discoverable"`
}

// ActorDocument returns the relay actor's JSON: type Application (LitePub
// peers expect it), preferredUsername "relay", inbox exactly
// https://HOST/inbox (Mastodon recognises relay traffic by comparing it
// with the URL its admin typed), shared inbox the same, and the instance
// key as PKIX PEM.
func (r *Relay) ActorDocument() []byte {
	b, _ := json.Marshal(actorDocument{
		Context:           []any{asContext, "https://w3id.org/security/v1"},
		ID:                r.actorID,
		Type:              "Application",
		PreferredUsername: "relay",
		Name:              "Palisade relay",
		Summary:           "ActivityPub relay of " + r.o.BaseURL + ". Mastodon: add " + r.inbox + " as a relay; Pleroma/Akkoma: follow " + r.actorID + ".",
		URL:               r.actorID,
		Inbox:             r.inbox,
		Outbox:            r.actorID + "/outbox",
		Followers:         r.follower,
		Following:         r.actorID + "/following",
		Endpoints:         map[string]any{"sharedInbox": r.inbox},
		PublicKey:         map[string]any{"id": r.actorID + "#main-key", "owner": r.actorID, "publicKeyPem": r.o.PublicKeyPEM},
		ManuallyApproves:  r.o.Mode != ModeOpen,
	})
	return b
}

// isPublic reports whether s names the public collection, in any of the
// forms peers send.
func isPublic(s string) bool {
	return s == activity.PublicCollection || s == "as:Public" || s == "Public"
}
