package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/palisade-fedi/palisade/relay/delivery"
	"github.com/palisade-fedi/palisade/relay/netguard"
)

// instanceKeyName is the instance_keys row of the instance actor's key.
const instanceKeyName = "instance"

// instanceActor is the node's instance actor, https://<host>/actor: it signs
// the relay's deliveries and the key resolver's authorized-fetch GETs. Its
// key lives in Postgres so that every node of a cluster, and every restart,
// signs with the one key peers have cached.
type instanceActor struct {
	id     string // https://<host>/actor
	keyID  string // id + "#main-key"
	key    *rsa.PrivateKey
	pubPEM string // PKIX "PUBLIC KEY" PEM, as published in the actor's publicKeyPem
}

// loadInstanceActor reads the instance actor's key from the database,
// generating an RSA-2048 pair on the first start of the cluster.
func loadInstanceActor(ctx context.Context, n *node) (*instanceActor, error) {
	privPEM, pubPEM, err := n.db.InstanceKey(ctx, instanceKeyName, generateRSAPEM)
	if err != nil {
		return nil, fmt.Errorf("the instance actor's key: %w", err)
	}
	b, _ := pem.Decode([]byte(privPEM))
	if b == nil {
		return nil, errors.New("the instance actor's key in table instance_keys (name 'instance') is not PEM; delete the row to have a new key generated (peers will refetch it)")
	}
	// ParsePKCS8PrivateKey precomputes the CRT values: signing without them
	// costs several times more.
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the instance actor's key in table instance_keys (name 'instance') does not parse: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the instance actor's key in table instance_keys (name 'instance') is a %T; Palisade signs with RSA (what every peer verifies)", k)
	}
	id := n.cfg.BaseURL() + "/actor"
	return &instanceActor{id: id, keyID: id + "#main-key", key: rk, pubPEM: pubPEM}, nil
}

// generateRSAPEM makes an RSA-2048 pair: PKCS#8 private, PKIX public.
func generateRSAPEM() (privPEM, pubPEM string, err error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})), nil
}

// startDelivery starts the outbound delivery engine on the node's
// "delivery" job queue, signing as the instance actor (n.instance, loaded
// if not yet). The caller MUST Close the engine before closing n.local.
func startDelivery(ctx context.Context, n *node) (*delivery.Engine, error) {
	if n.instance == nil {
		a, err := loadInstanceActor(ctx, n)
		if err != nil {
			return nil, err
		}
		n.instance = a
	}
	jobs, err := n.local.Jobs("delivery")
	if err != nil {
		return nil, fmt.Errorf("opening the delivery queue: %w", err)
	}
	inst := n.instance
	cfg := n.cfg
	eng, err := delivery.New(delivery.Options{
		Jobs:   jobs,
		Client: (&netguard.Guard{AllowPrivate: cfg.Fed.AllowPrivateAddresses}).Client(30 * time.Second),
		// The same gate as the key resolver's: a suspended host is never
		// contacted.
		Allowed: n.policy.allowedHost,
		Signer: func(actor string) (string, crypto.PrivateKey, error) {
			if actor == inst.id {
				return inst.keyID, inst.key, nil
			}
			if n.social == nil {
				return "", nil, fmt.Errorf("no signing key for %q: this node signs only as its instance actor %s", actor, inst.id)
			}
			// Local accounts sign with their own keys (cached by the service).
			return n.social.SigningKey(actor)
		},
		AllowHTTP:  cfg.Fed.AllowHTTP,
		UserAgent:  delivery.UserAgent(versionString(), cfg.Host),
		Registerer: n.reg,
		Logger:     n.log.With("component", "delivery"),
	})
	if err != nil {
		return nil, err
	}
	if err := eng.Run(ctx); err != nil {
		eng.Close()
		return nil, err
	}
	return eng, nil
}

// hostView is one destination host in the admin API, in its snake_case
// style; times are omitted while zero.
type hostView struct {
	Host                string    `json:"host"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	LastFailure         time.Time `json:"last_failure,omitzero"`
	UnavailableSince    time.Time `json:"unavailable_since,omitzero"`
	NextProbe           time.Time `json:"next_probe,omitzero"`
	Pending             int64     `json:"pending"`
	Delivered           int64     `json:"delivered"`
}

// deliveryRoutes serves GET /admin/v1/delivery/hosts, {"hosts": [...]}: the
// health of every destination host the engine knows (pending jobs or
// deliveries since start), behind the admin bearer token.
func (n *node) deliveryRoutes(mux *http.ServeMux, eng *delivery.Engine) {
	mux.Handle("GET /admin/v1/delivery/hosts", n.policy.handle(func(w http.ResponseWriter, r *http.Request) error {
		hosts := []hostView{}
		for _, h := range eng.Hosts() {
			hosts = append(hosts, hostView(h))
		}
		writeJSON(w, http.StatusOK, map[string]any{"hosts": hosts})
		return nil
	}))
}
