package main

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"

	"github.com/palisade-fedi/palisade/instance/api"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/oauth"
)

func init() { registerMount("api", mountAPI, startAPI) }

// startAPI serves the Mastodon client API (instance/api) on the public
// listener, authenticating through the OAuth server mounted before it,
// and runs its streaming listener (LISTEN on the node's database) until
// shutdown. Uploads live under DataDir/media and are served at
// BASE/media/.
func startAPI(ctx context.Context, n *node, _ *http.ServeMux) (func(), error) {
	if n.oauth == nil {
		return nil, errors.New("the client API needs the OAuth server, which is not mounted")
	}
	var trusted []netip.Prefix
	for _, p := range n.cfg.Proxy.Trusted {
		pfx, _ := parsePrefix(p) // validated by Config.Validate
		trusted = append(trusted, pfx)
	}
	name := n.cfg.Instance.Name
	if name == "" {
		name = n.cfg.Host
	}
	o := api.Options{
		Social:   n.social,
		Auth:     oauthAuth{n.oauth},
		Pool:     n.db.Pool(),
		MediaDir: filepath.Join(n.cfg.DataDir, "media"),
		Instance: api.InstanceInfo{
			Title: name, Description: n.cfg.Instance.Description, ContactEmail: n.cfg.Instance.ContactEmail,
			Registrations: n.cfg.Instance.Registrations == "open", Version: versionString(),
		},
		ClientIP: func(r *http.Request) string { return clientIP(r, trusted) },
		Logger:   n.log.With("component", "api"),
	}
	// The public listener reads bodies up to publicMaxBody (the ingress
	// keeps inbox POSTs to ingress.max_body): uploads get the API's 16 MiB.
	o.MaxUploadBytes = publicMaxBody - 1<<20
	if n.consumer != nil {
		o.Resolve = n.resolveAccount
		o.ResolveURL = func(ctx context.Context, u string) (*data.Account, *data.Status, error) {
			a, err := n.resolveAccount(ctx, u)
			return a, nil, err
		}
	}
	a, err := api.New(o)
	if err != nil {
		return nil, err
	}
	a.Register(n.public)
	n.clientAPI = a
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.Run(sctx)
	}()
	return func() {
		cancel()
		wg.Wait()
	}, nil
}

// oauthAuth turns the OAuth server's grants into the API's identities.
type oauthAuth struct{ s *oauth.Server }

func (o oauthAuth) Authenticate(r *http.Request) (*api.Identity, error) {
	g, err := o.s.Authenticate(r)
	if err != nil {
		if errors.Is(err, oauth.ErrInvalidToken) {
			return nil, errors.Join(api.ErrInvalidToken, err)
		}
		return nil, err
	}
	if g == nil {
		return nil, nil
	}
	return &api.Identity{TokenID: g.TokenID, AppID: g.AppID, AppName: g.AppName, AccountID: g.AccountID,
		Role: g.Role, Scopes: g.Scopes}, nil
}
