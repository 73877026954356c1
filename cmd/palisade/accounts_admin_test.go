package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// palisade accounts against a real node started by serve (so the routes
// are wired as in production), on a real database.
func TestAccountsCLIAgainstNode(t *testing.T) {
	dir := t.TempDir()
	cfg := Default()
	cfg.Host = "palisade.test"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen = ListenConfig{Public: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Log.Level = "warn"
	cfg.Database.URL = pgtest.URL(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	adm, _ := runServe(t, cfg)
	cfgPath := filepath.Join(dir, "palisade.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("data_dir: %s\nlisten:\n  admin: %s\n", cfg.DataDir, adm)), 0o644)
	db, err := pg.Open(context.Background(), cfg.Database.URL, pg.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := data.New(db.Pool())
	ctx := context.Background()

	code, out := runCLI(t, "accounts", "create", "alice", "--email", "alice@mail.example", "--role", "admin", "--config", cfgPath)
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if code != 0 || !strings.Contains(out, "created alice") || !strings.Contains(out, cfg.BaseURL()+"/users/alice") || m == nil {
		t.Fatalf("accounts create: %d %s", code, out)
	}
	alice, err := store.GetAccountByUsername(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := store.GetUserByAccount(ctx, alice.ID)
	if err != nil || u.Role != data.RoleAdmin || !accounts.CheckPassword(u, m[1]) {
		t.Fatalf("stored user %+v, %v; the printed password must sign in", u, err)
	}
	// A given password is not printed back.
	code, out = runCLI(t, "accounts", "create", "bob", "--email", "bob@mail.example", "--password", "correct horse", "--locked", "--config", cfgPath)
	if code != 0 || strings.Contains(out, "password") {
		t.Fatalf("create with --password: %d %s", code, out)
	}

	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"create", "ALICE", "--email", "x@mail.example"}, "the username ALICE is taken (HTTP 409)"},
		{[]string{"create", "relay", "--email", "x@mail.example"}, "reserved"},
		{[]string{"create", "a.b", "--email", "x@mail.example"}, "only ASCII letters, digits and _"},
		{[]string{"create", "carol", "--email", "x@mail.example", "--role", "owner"}, "want user, moderator or admin"},
		{[]string{"create", "carol"}, "want --email"},
		{[]string{"suspend", "nobody"}, "no account @nobody (HTTP 404)"},
		{[]string{"frobnicate"}, "unknown subcommand"},
	} {
		code, out := runCLI(t, append(append([]string{"accounts"}, tc.args...), "--config", cfgPath)...)
		if code == 0 || !strings.Contains(out, tc.says) {
			t.Errorf("accounts %s: exit %d, want an error saying %q:\n%s", strings.Join(tc.args, " "), code, tc.says, out)
		}
	}

	code, out = runCLI(t, "accounts", "suspend", "alice", "--reason", "testing", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "suspended alice") {
		t.Fatalf("suspend: %d %s", code, out)
	}
	if code, out = runCLI(t, "accounts", "suspend", "alice", "--config", cfgPath); code != 0 || !strings.Contains(out, "already suspended") {
		t.Fatalf("second suspend: %d %s", code, out)
	}
	code, out = runCLI(t, "accounts", "list", "--config", cfgPath)
	if code != 0 || !regexp.MustCompile(`alice\s+\d+\s+admin\s+alice@mail.example\s+suspended`).MatchString(out) ||
		!regexp.MustCompile(`bob\s+\d+\s+user\s+bob@mail.example\s+active,locked`).MatchString(out) || !strings.Contains(out, "2 local accounts") {
		t.Fatalf("list: %d %s", code, out)
	}
	code, out = runCLI(t, "accounts", "list", "--json", "--config", cfgPath)
	var listed []accountJSON
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 2 || listed[1].ID != ids.String(alice.ID) || listed[1].SuspendedAt == nil {
		t.Fatalf("list --json: %d %s", code, out)
	}
	if code, out = runCLI(t, "accounts", "unsuspend", "alice", "--config", cfgPath); code != 0 || !strings.Contains(out, "unsuspended alice") {
		t.Fatalf("unsuspend: %d %s", code, out)
	}
	a, _ := store.GetAccount(ctx, alice.ID)
	if a.SuspendedAt != nil {
		t.Fatal("still suspended after unsuspend")
	}
	// Every change is audited with who made it: the token holder, with the
	// CLI user's name.
	es, err := store.AuditFor(ctx, "account", ids.String(alice.ID), 0)
	if err != nil || len(es) != 3 {
		t.Fatalf("audit = %+v, %v", es, err)
	}
	for i, want := range []string{"account.unsuspend", "account.suspend", "account.create"} {
		if es[i].Action != want || !strings.HasPrefix(es[i].Actor, "admin-token") {
			t.Errorf("audit[%d] = %s by %s, want %s by admin-token", i, es[i].Action, es[i].Actor, want)
		}
	}
	if !strings.Contains(string(es[1].Detail.(json.RawMessage)), "testing") {
		t.Errorf("suspension reason not audited: %s", es[1].Detail)
	}

	// Without the token, nothing.
	code, out = runCLI(t, "accounts", "list", "--config", cfgPath, "--token-file", filepath.Join(dir, "nope"))
	if code == 0 || !strings.Contains(out, "no admin token") {
		t.Fatalf("without a token: %d %s", code, out)
	}
}

func TestAccountsCLIHelp(t *testing.T) {
	for _, args := range [][]string{
		{"accounts", "--help"}, {"accounts", "create", "--help"}, {"accounts", "list", "--help"},
		{"accounts", "suspend", "--help"}, {"accounts", "unsuspend", "--help"},
	} {
		code, out := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, "Example") {
			t.Errorf("palisade %s: exit %d, want 0 and an example:\n%s", strings.Join(args, " "), code, out)
		}
	}
}
