package oauth_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/oauth"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// BenchmarkAuthenticate measures what every API request pays to turn its
// bearer token into a Grant: one indexed lookup on the token digest
// joined with the app, the account and the login, on real Postgres.
func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b, oauth.Options{})
	e.user("bench", data.RoleUser)
	app := e.app("urn:ietf:wg:oauth:2.0:oob", "read")
	st, tr := e.token(url.Values{"grant_type": {"password"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret},
		"username": {"bench"}, "password": {password}})
	if st != 200 {
		b.Fatalf("token: %d %+v", st, tr)
	}
	r := httptest.NewRequest("GET", "/api/v1/timelines/home", nil)
	r.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		g, err := e.oauth.Authenticate(r)
		if err != nil || g == nil {
			b.Fatal(g, err)
		}
	}
}

// BenchmarkRoundTrip is the baseline: one SELECT 1 on the same kind of
// pool, the least any database-backed check can cost.
func BenchmarkRoundTrip(b *testing.B) {
	db := pgtest.New(b)
	ctx := context.Background()
	var one int
	for b.Loop() {
		if err := db.Pool().QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			b.Fatal(err)
		}
	}
}
