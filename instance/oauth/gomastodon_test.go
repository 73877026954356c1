package oauth_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mattn/go-mastodon"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/oauth"
)

// go-mastodon (a real client library) registers an app, sends the person
// to the AuthURI it builds, exchanges the out-of-band code with
// AuthenticateToken, and signs in with Authenticate (the password grant).
func TestGoMastodonSignIn(t *testing.T) {
	e := newEnv(t, oauth.Options{})
	acct := e.user("gomo", data.RoleUser)
	ctx := context.Background()
	app, err := mastodon.RegisterApp(ctx, &mastodon.AppConfig{Server: e.srv.URL, ClientName: "go-mastodon",
		RedirectURIs: oauth.OOB, Scopes: "read write follow", Website: "https://github.com/mattn/go-mastodon"})
	if err != nil {
		t.Fatal(err)
	}
	if app.ClientID == "" || app.ClientSecret == "" || !strings.HasPrefix(app.AuthURI, e.srv.URL+"/oauth/authorize?") {
		t.Fatalf("app %+v", app)
	}
	// The person opens AuthURI, signs in, and copies the code.
	u, _ := url.Parse(app.AuthURI)
	b := e.browser()
	st, form, body := b.open(u.Query())
	if st != 200 {
		t.Fatalf("AuthURI page: %d %s", st, body)
	}
	st, body, _ = b.submit(form, "gomo", password, "approve")
	m := regexp.MustCompile(`<code class="code">([^<]+)</code>`).FindStringSubmatch(body)
	if st != 200 || m == nil {
		t.Fatalf("code page: %d %s", st, body)
	}
	c := mastodon.NewClient(&mastodon.Config{Server: e.srv.URL, ClientID: app.ClientID, ClientSecret: app.ClientSecret})
	if err := c.AuthenticateToken(ctx, m[1], oauth.OOB); err != nil {
		t.Fatal(err)
	}
	g, err := e.grantOf(c.Config.AccessToken)
	if err != nil || g.AccountID != acct.ID || !g.Allows("write:follows") {
		t.Fatalf("grant %+v %v", g, err)
	}
	c2 := mastodon.NewClient(&mastodon.Config{Server: e.srv.URL, ClientID: app.ClientID, ClientSecret: app.ClientSecret})
	if err := c2.Authenticate(ctx, "gomo@mail.example", password); err != nil {
		t.Fatal(err)
	}
	if err := c2.Authenticate(ctx, "gomo@mail.example", "wrong"); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Fatalf("a wrong password: %v", err)
	}
	if _, err := e.grantOf(c2.Config.AccessToken); err != nil {
		t.Fatal(err)
	}
}
