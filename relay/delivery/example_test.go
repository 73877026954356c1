package delivery_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/store/local"
)

// Wiring the engine as palisade serve does: the node's Pebble store, the
// SSRF-guarded client, one key per local actor, the policy gate.
func Example() {
	received := make(chan string, 1)
	inbox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received <- string(b)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer inbox.Close()

	dir, _ := os.MkdirTemp("", "palisade-example")
	defer os.RemoveAll(dir)
	db, err := local.Open(dir, local.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer db.Close() // after the engine's Close
	jobs, err := db.Jobs("delivery")
	if err != nil {
		panic(err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	guard := &netguard.Guard{AllowPrivate: true} // loopback for the example only
	e, err := delivery.New(delivery.Options{
		Jobs: jobs,
		Signer: func(actor string) (string, crypto.PrivateKey, error) {
			return actor + "#main-key", key, nil // look the actor's key up here
		},
		Client:    guard.Client(30 * time.Second),
		Allowed:   func(host string) bool { return host != "suspended.example" },
		UserAgent: delivery.UserAgent("1.0.0", "palisade.example"),
		AllowHTTP: true, // httptest serves http
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	if err := e.Run(context.Background()); err != nil {
		panic(err)
	}
	activity := []byte(`{"type":"Create","id":"https://palisade.example/activities/1"}`)
	// Durable when Enqueue returns: the caller may now ack its own input.
	if err := e.Enqueue(activity, "https://palisade.example/users/alice", []string{inbox.URL + "/inbox"}); err != nil {
		panic(err)
	}
	fmt.Println(<-received)
	// Output: {"type":"Create","id":"https://palisade.example/activities/1"}
}
