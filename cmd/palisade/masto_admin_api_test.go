package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
)

// mastoAdminScript is a blocklist tool written against masto.js
// (masto@7.12.0, a real Mastodon client library): it registers an app,
// signs in with the password grant, pushes domain blocks through
// v1.admin.domainBlocks, and revokes its token.
const mastoAdminScript = `
import { createRestAPIClient, createOAuthAPIClient } from "masto";
const url = process.env.PAL_URL;
const scopes = "read admin:read admin:write";
const oob = "urn:ietf:wg:oauth:2.0:oob";
const app = await createRestAPIClient({ url }).v1.apps.create({ clientName: "masto blocklist", redirectUris: oob, scopes });
const oauth = createOAuthAPIClient({ url });
const tok = await oauth.token.create({ grantType: "password", clientId: app.clientId, clientSecret: app.clientSecret,
  redirectUri: oob, username: process.env.PAL_USER, password: process.env.PAL_PASS, scope: scopes });
const masto = createRestAPIClient({ url, accessToken: tok.accessToken });
const blocks = masto.v1.admin.domainBlocks;
const created = await blocks.create({ domain: "masto-spam.test", severity: "suspend", rejectMedia: true, publicComment: "pushed by masto" });
const fetched = await blocks.$select(created.id).fetch();
const updated = await blocks.$select(created.id).update({ severity: "suspend", rejectReports: true, publicComment: "still spam" });
const other = await blocks.create({ domain: "gone.test", severity: "silence" });
await blocks.$select(other.id).remove();
const listed = await blocks.list({ limit: 10 });
let dup = null;
try { await blocks.create({ domain: "masto-spam.test" }); } catch (e) { dup = { status: e.statusCode, message: e.message }; }
await oauth.revoke({ clientId: app.clientId, clientSecret: app.clientSecret, token: tok.accessToken });
let afterRevoke = null;
try { await blocks.list(); } catch (e) { afterRevoke = e.statusCode; }
console.log(JSON.stringify({ scope: tok.scope, created, fetched, updated, listed, dup, afterRevoke }));
`

func TestMastoJSAdminDomainBlocks(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	modules := filepath.Join("..", "..", "testdata", "node")
	if _, serr := os.Stat(filepath.Join(modules, "node_modules", "masto")); err != nil || serr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs node and masto in testdata/node (run .ci/deps): node %v, masto %v", err, serr)
		}
		t.Skip("node or testdata/node/node_modules/masto missing (run .ci/deps)")
	}
	n := startAPINode(t, nil)
	n.user(t, "admin_ann", data.RoleAdmin)

	cmd := exec.Command(nodeBin, "--input-type=module", "-e", mastoAdminScript)
	cmd.Dir = modules
	cmd.Env = append(os.Environ(), "PAL_URL=http://"+n.public, "PAL_USER=admin_ann@mail.example", "PAL_PASS="+apiTestPassword)
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
		}
	}()
	out, err := cmd.Output()
	close(done)
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("masto script: %v\n%s\n%s", err, out, stderr)
	}
	type block struct {
		ID, Domain, Severity, PublicComment string
		RejectMedia, RejectReports          bool
	}
	var res struct {
		Scope                     string
		Created, Fetched, Updated block
		Listed                    []block
		Dup                       *struct{ Status int }
		AfterRevoke               *int
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c := res.Created
	if res.Scope != "read admin:read admin:write" || c.ID == "" || c.Domain != "masto-spam.test" || c.Severity != "suspend" || !c.RejectMedia ||
		c.PublicComment != "pushed by masto" || res.Fetched != c {
		t.Fatalf("created %+v fetched %+v (scope %q)", c, res.Fetched, res.Scope)
	}
	if u := res.Updated; u.ID != c.ID || !u.RejectReports || !u.RejectMedia || u.PublicComment != "still spam" {
		t.Fatalf("updated %+v", u)
	}
	if len(res.Listed) != 1 || res.Listed[0].Domain != "masto-spam.test" {
		t.Fatalf("listed %+v (gone.test must be removed)", res.Listed)
	}
	if res.Dup == nil || res.Dup.Status != 422 || res.AfterRevoke == nil || *res.AfterRevoke != 401 {
		t.Fatalf("duplicate %+v, after revoke %v", res.Dup, res.AfterRevoke)
	}
	// The block masto pushed is in force in the ingress.
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	if st := n.signedPost(t, "masto-spam.test", key, 1); st != http.StatusUnavailableForLegalReasons {
		t.Fatalf("a signed POST from the domain masto blocked got %d", st)
	}
}
