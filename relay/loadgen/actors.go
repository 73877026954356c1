package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Actor is one fake remote actor with its RSA-2048 key.
type Actor struct {
	ID    string // http://127.0.0.D:PORT/users/uN
	KeyID string // ID + "#main-key"
	Key   *rsa.PrivateKey
}

// Fleet is a set of fake remote domains on loopback, each an HTTP server
// answering actor documents (Mastodon-shaped, publicKey inline).
type Fleet struct {
	Actors  []*Actor
	Domains []string // host:port of each domain
	servers []*http.Server
	byPath  map[string]map[string]*Actor // host → path → actor
}

// NewFleet generates actors (spread evenly over domains) and serves their
// documents on 127.0.0.(10+d):port. keys may carry previously generated keys
// to reuse (nil entries are generated).
func NewFleet(domains, actors, port int, keys []*rsa.PrivateKey) (*Fleet, error) {
	if domains < 1 || actors < domains {
		return nil, errors.New("loadgen: need at least one domain and one actor per domain")
	}
	f := &Fleet{byPath: map[string]map[string]*Actor{}}
	for d := 0; d < domains; d++ {
		ip := fmt.Sprintf("127.0.0.%d", 10+d)
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("loadgen: key server on %s:%d: %w", ip, port, err)
		}
		host := ln.Addr().String()
		f.Domains = append(f.Domains, host)
		f.byPath[host] = map[string]*Actor{}
		srv := &http.Server{Handler: f.handler(host), ReadHeaderTimeout: 5 * time.Second}
		f.servers = append(f.servers, srv)
		go srv.Serve(ln)
	}
	f.Actors = make([]*Actor, actors)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var genErr error
	sem := make(chan struct{}, 2)
	for i := 0; i < actors; i++ {
		host := f.Domains[i%domains]
		a := &Actor{ID: fmt.Sprintf("http://%s/users/u%d", host, i)}
		a.KeyID = a.ID + "#main-key"
		if i < len(keys) && keys[i] != nil {
			a.Key = keys[i]
		} else {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					genErr = err
				}
				a.Key = k
			}()
		}
		f.Actors[i] = a
		f.byPath[host][fmt.Sprintf("/users/u%d", i)] = a
	}
	wg.Wait()
	if genErr != nil {
		f.Close()
		return nil, genErr
	}
	return f, nil
}

func (f *Fleet) handler(host string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := f.byPath[host][r.URL.Path]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		der, _ := x509.MarshalPKIXPublicKey(&a.Key.PublicKey)
		pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		name := a.ID[strings.LastIndexByte(a.ID, '/')+1:]
		doc := map[string]any{
			"@context":          []string{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"},
			"id":                a.ID,
			"type":              "Person",
			"preferredUsername": name,
			"name":              "Bench " + name,
			"inbox":             a.ID + "/inbox",
			"outbox":            a.ID + "/outbox",
			"followers":         a.ID + "/followers",
			"endpoints":         map[string]string{"sharedInbox": "http://" + host + "/inbox"},
			"published":         "2024-01-01T00:00:00Z",
			"publicKey":         map[string]string{"id": a.KeyID, "owner": a.ID, "publicKeyPem": pemKey},
		}
		w.Header().Set("Content-Type", "application/activity+json")
		json.NewEncoder(w).Encode(doc)
	})
}

// Close stops the key servers.
func (f *Fleet) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, s := range f.servers {
		s.Shutdown(ctx)
	}
}
