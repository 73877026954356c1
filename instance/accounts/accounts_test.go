package accounts_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

func newService(t *testing.T) (*accounts.Service, *data.Store) {
	store := data.New(pgtest.New(t).Pool())
	s := accounts.New(store, "https://social.example", nil)
	s.SetBcryptCost(bcrypt.MinCost)
	return s, store
}

func TestCreate(t *testing.T) {
	s, store := newService(t)
	c, err := s.Create(ctx, "Alice_1", accounts.CreateOptions{Email: "alice@mail.example", Role: data.RoleAdmin, Locked: true, By: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	a := c.Account
	if a.URI != "https://social.example/users/Alice_1" || a.KeyID != a.URI+"#main-key" ||
		a.InboxURL != a.URI+"/inbox" || a.SharedInboxURL != "https://social.example/inbox" ||
		a.OutboxURL != a.URI+"/outbox" || a.FollowersURL != a.URI+"/followers" || a.FollowingURL != a.URI+"/following" ||
		!strings.HasPrefix(a.FeaturedURL, a.URI+"/") || !a.Locked {
		t.Fatalf("account = %+v", a)
	}
	// The stored key pair is RSA-2048, PKCS#8 private and PKIX public, and
	// the two halves match.
	stored, err := store.GetAccount(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := pem.Decode([]byte(stored.PrivateKeyPEM))
	k, err := x509.ParsePKCS8PrivateKey(pb.Bytes)
	if err != nil || pb.Type != "PRIVATE KEY" {
		t.Fatalf("private key: %v (type %q)", err, pb.Type)
	}
	rk := k.(*rsa.PrivateKey)
	ub, _ := pem.Decode([]byte(stored.PublicKeyPEM))
	pub, err := x509.ParsePKIXPublicKey(ub.Bytes)
	if err != nil || ub.Type != "PUBLIC KEY" || rk.N.BitLen() != 2048 || !rk.PublicKey.Equal(pub) {
		t.Fatalf("public key: %v, %d bits, match %v", err, rk.N.BitLen(), rk.PublicKey.Equal(pub))
	}
	// A password was generated, shown once and stored only hashed.
	u, err := store.GetUserByAccount(ctx, a.ID)
	if err != nil || u.Role != data.RoleAdmin || c.Password == "" || u.PasswordHash == c.Password ||
		!accounts.CheckPassword(u, c.Password) || accounts.CheckPassword(u, c.Password+"x") {
		t.Fatalf("user = %+v, %v; generated %q", u, err, c.Password)
	}
	if es, _ := store.AuditFor(ctx, "account", ids.String(a.ID), 0); len(es) != 1 || es[0].Action != "account.create" || es[0].Actor != "cli" {
		t.Fatalf("audit = %+v", es)
	}

	// A given password is used and not echoed.
	c2, err := s.Create(ctx, "bob", accounts.CreateOptions{Email: "bob@mail.example", Password: "correct horse", By: "cli"})
	if err != nil || c2.Password != "" {
		t.Fatalf("create bob = %v, echoed %q", err, c2.Password)
	}
	u2, _ := store.GetUserByAccount(ctx, c2.Account.ID)
	if !accounts.CheckPassword(u2, "correct horse") || u2.Role != data.RoleUser {
		t.Fatalf("bob: role %q, password check failed", u2.Role)
	}
}

func TestCreateRefusals(t *testing.T) {
	s, _ := newService(t)
	if _, err := s.Create(ctx, "alice", accounts.CreateOptions{Email: "alice@mail.example", By: "cli"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, email, password, role string
		kind                        data.Kind
		says                        string
	}{
		{"ALICE", "x@mail.example", "", "", data.Conflict, "username"},
		{"alice2", "Alice@Mail.Example", "", "", data.Conflict, "e-mail"},
		{"relay", "r@mail.example", "", "", data.Invalid, "reserved"},
		{"Admin", "r@mail.example", "", "", data.Invalid, "reserved"},
		{"actor", "r@mail.example", "", "", data.Invalid, "reserved"},
		{"al.ice", "r@mail.example", "", "", data.Invalid, "only ASCII letters"},
		{"élise", "r@mail.example", "", "", data.Invalid, "only ASCII letters"},
		{"", "r@mail.example", "", "", data.Invalid, "empty"},
		{strings.Repeat("a", 31), "r@mail.example", "", "", data.Invalid, "at most 30"},
		{"carol", "not-an-email", "", "", data.Invalid, "name@domain"},
		{"carol", "c@mail.example", "short", "", data.Invalid, "want 8 to 72"},
		{"carol", "c@mail.example", strings.Repeat("p", 73), "", data.Invalid, "want 8 to 72"},
		{"carol", "c@mail.example", "", "owner", data.Invalid, "want user, moderator or admin"},
	} {
		_, err := s.Create(ctx, tc.name, accounts.CreateOptions{Email: tc.email, Password: tc.password, Role: tc.role, By: "cli"})
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Create(%q, %q) = %v; want kind %v saying %q", tc.name, tc.email, err, tc.kind, tc.says)
		}
	}
	if _, err := s.Create(ctx, strings.Repeat("a", 30), accounts.CreateOptions{Email: "long@mail.example", By: "cli"}); err != nil {
		t.Fatalf("a 30-character username is allowed: %v", err)
	}
}

func TestSuspendListAudit(t *testing.T) {
	s, store := newService(t)
	for _, n := range []string{"alice", "bob"} {
		if _, err := s.Create(ctx, n, accounts.CreateOptions{Email: n + "@mail.example", By: "cli"}); err != nil {
			t.Fatal(err)
		}
	}
	a, changed, err := s.Suspend(ctx, "ALICE", "admin-token:root", "spam")
	if err != nil || !changed || a.SuspendedAt == nil {
		t.Fatalf("suspend = %v, %v", changed, err)
	}
	if _, changed, _ := s.Suspend(ctx, "alice", "cli", ""); changed {
		t.Fatal("suspending twice reported a change")
	}
	list, err := s.List(ctx, data.Page{})
	if err != nil || len(list) != 2 || list[0].Account.Username != "bob" || list[1].Account.SuspendedAt == nil || list[1].User == nil {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if _, changed, err := s.Unsuspend(ctx, "alice", "cli"); err != nil || !changed {
		t.Fatalf("unsuspend = %v, %v", changed, err)
	}
	es, _ := store.AuditFor(ctx, "account", ids.String(a.ID), 0)
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Actor+" "+e.Action)
	}
	if strings.Join(actions, ", ") != "cli account.unsuspend, admin-token:root account.suspend, cli account.create" {
		t.Fatalf("audit trail = %q", actions)
	}
	if _, _, err := s.Suspend(ctx, "nobody", "cli", ""); !errors.Is(err, data.NotFound) {
		t.Fatalf("suspending an unknown account: %v", err)
	}
}
