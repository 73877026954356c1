package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/relay/signature"
)

// signedPost signs body as keyOwner with key and POSTs it to the node's
// /inbox as host, returning the status.
func signedPost(t *testing.T, node, host, keyOwner string, key *rsa.PrivateKey, body map[string]any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+node+"/inbox", bytes.NewReader(raw))
	req.Host = host
	req.Header.Set("Content-Type", "application/activity+json")
	req.Header.Set("Digest", signature.DigestHeader(raw))
	if err := signature.Sign("POST", "/inbox", host, req.Header, keyOwner+"#main-key", key,
		[]string{"(request-target)", "host", "date", "digest", "content-type"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func publicNote(actor, id, html string, tags ...string) map[string]any {
	var tag []map[string]string
	for _, t := range tags {
		tag = append(tag, map[string]string{"type": "Hashtag", "name": "#" + t})
	}
	return map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": actor + "/activities/" + id, "type": "Create",
		"actor": actor, "to": []string{"https://www.w3.org/ns/activitystreams#Public"},
		"object": map[string]any{"id": actor + "/notes/" + id, "type": "Note", "attributedTo": actor, "content": html,
			"published": time.Now().UTC().Format(time.RFC3339), "to": []string{"https://www.w3.org/ns/activitystreams#Public"},
			"tag": tag}}
}

// e2eTools finds node, Chromium and playwright-core; without them the test
// is skipped, except under CI, where it fails.
func e2eTools(t *testing.T) (nodeBin, chromium, script string) {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (run .ci/deps)", what)
		}
		t.Skipf("%s is missing (run .ci/deps)", what)
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		missing("node")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		for _, c := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
			if _, err := os.Stat(c); err == nil {
				chromium = c
				break
			}
		}
	}
	if chromium == "" {
		missing("chromium")
	}
	root, _ := filepath.Abs("../..")
	if _, err := os.Stat(filepath.Join(root, "testdata/node/node_modules/playwright-core/package.json")); err != nil {
		missing("testdata/node/node_modules/playwright-core")
	}
	return nodeBin, chromium, filepath.Join(root, "testdata/node/console_e2e.mjs")
}

// A moderator, in headless Chromium against a running appliance, signs in,
// blocks a domain (after its impact preview) and the ingress then refuses
// a signed POST from it; flips a rule to shadow mode and a post the rule
// would reject is then stored; releases a held post, which reaches the
// public timeline; resolves a report. A non-moderator is refused. Every
// page is saved as a screenshot.
func TestConsoleEndToEndInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and a browser")
	}
	nodeBin, chromium, script := e2eTools(t)
	start := time.Now()
	n := startConsoleNode(t)
	ctx := context.Background()

	// A remote instance on loopback (real key, serves its actor), and a
	// domain that does not resolve, to block.
	peer := newRelayPeer(t, "/users/bob")
	const blockDomain = "spam.e2e.invalid"
	spamKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spamActor := "https://" + blockDomain + "/users/spammer"
	if code := signedPost(t, n.public, "palisade.test", spamActor, spamKey, publicNote(spamActor, "1", "<p>hi</p>")); code != http.StatusUnauthorized {
		t.Fatalf("before the block, a POST from %s: %d, want 401 (its key cannot be fetched; not refused by domain)", blockDomain, code)
	}

	// A post the policy holds, and a report.
	peer.send(t, netAddr(n.public), "palisade.test", peer.actor, publicNote(peer.actor, "held", "<p>held for review <b>please</b></p>", "quarantine"))
	waitFor(t, "the post to be held", func() bool {
		qs, err := n.data.PendingQuarantine(ctx, data.Page{Limit: 5})
		return err == nil && len(qs) == 1
	})
	// A post someone reports, stored as accepted.
	peer.send(t, netAddr(n.public), "palisade.test", peer.actor, publicNote(peer.actor, "reported", "<p>cheap followers at <a href=\"https://spam.example/\">spam.example</a></p>"))
	var reported *data.Status
	waitFor(t, "the reported post to be stored", func() bool {
		reported, err = n.data.GetStatusByURI(ctx, peer.actor+"/notes/reported")
		return err == nil
	})
	rep := &data.Report{TargetAccountID: reported.AccountID, StatusIDs: []int64{reported.ID}, Comment: "posting spam links", Category: data.ReportSpam}
	if _, err := n.data.InsertReport(ctx, rep); err != nil {
		t.Fatal(err)
	}

	shots := t.ArtifactDir()
	cmd := exec.Command(nodeBin, script)
	cmd.Env = append(os.Environ(), "CONSOLE_URL=http://"+n.public, "MOD_LOGIN=mira@palisade.test", "PLAIN_LOGIN=plain",
		"PASSWORD="+consolePassword, "BLOCK_DOMAIN="+blockDomain, "SHADOW_RULE=reject-cheap", "SHOTS="+shots, "CHROMIUM="+chromium)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	browserStart := time.Now()
	out, err := cmd.Output()
	t.Logf("browser run: %s; screenshots in %s", time.Since(browserStart).Round(time.Millisecond), shots)
	var res struct {
		OK    bool           `json:"ok"`
		Error string         `json:"error"`
		Seen  map[string]any `json:"seen"`
		Steps []string       `json:"steps"`
	}
	if jerr := json.Unmarshal(lastLine(out), &res); jerr != nil || err != nil || !res.OK {
		t.Fatalf("browser script: %v (%v)\n%s\nstdout:\n%s\nstderr:\n%s", err, jerr, res.Error, out, stderr.String())
	}
	t.Logf("browser steps: %s", strings.Join(res.Steps, ", "))
	if dir := os.Getenv("PALISADE_ARTIFACTS"); dir != "" {
		dst := filepath.Join(dir, "console")
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(shots, "*.png"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644)
		}
		t.Logf("screenshots copied to %s", dst)
	}
	if got := res.Seen["plainStatus"]; got != float64(http.StatusForbidden) {
		t.Errorf("non-moderator sign-in answered %v, want 403", got)
	}
	if rt := fmt.Sprint(res.Seen["reportText"]); !strings.Contains(rt, "cheap followers at spam.example") || !strings.Contains(rt, "posting spam links") {
		t.Errorf("the report page showed %q, want the comment and the reported post", rt)
	}
	if !strings.Contains(fmt.Sprint(res.Seen["heldText"]), "held for review please") {
		t.Errorf("the held post rendered as %q", res.Seen["heldText"])
	}

	// The block reaches the ingress.
	if code := signedPost(t, n.public, "palisade.test", spamActor, spamKey, publicNote(spamActor, "2", "<p>hi again</p>")); code != http.StatusForbidden {
		t.Errorf("after the block, a POST from %s: %d, want 403 (ingress.blocked_status)", blockDomain, code)
	}
	// The rule in shadow mode: a post it would reject is stored.
	peer.send(t, netAddr(n.public), "palisade.test", peer.actor, publicNote(peer.actor, "cheap", "<p>buy cheap watches</p>"))
	// The released post, and the shadowed one, reach the public timeline.
	want := map[string]bool{peer.actor + "/notes/held": false, peer.actor + "/notes/cheap": false}
	waitFor(t, "the released and the shadowed posts on the public timeline", func() bool {
		sts, err := n.data.PublicTimeline(ctx, false, data.Page{Limit: 20})
		if err != nil {
			return false
		}
		for _, s := range sts {
			if _, ok := want[s.URI]; ok {
				want[s.URI] = true
			}
		}
		return want[peer.actor+"/notes/held"] && want[peer.actor+"/notes/cheap"]
	})
	got, err := n.data.GetReport(ctx, rep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ActionTakenAt == nil || got.ActionTakenBy != "console:mira" {
		t.Errorf("report after resolving: taken at %v by %q, want resolved by console:mira", got.ActionTakenAt, got.ActionTakenBy)
	}
	var a *data.Account
	if a, err = n.data.GetAccountByUsername(ctx, "mira", ""); err != nil || got.AssignedAccountID != a.ID {
		t.Errorf("report assigned to %d, want mira (%v)", got.AssignedAccountID, err)
	}
	rows, err := n.pool.Query(ctx, `SELECT action FROM audit_log WHERE actor = 'console:mira' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		actions = append(actions, s)
	}
	rows.Close()
	for _, want := range []string{"quarantine.release", "report.assign", "report.resolve"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit rows by console:mira %v lack %s", actions, want)
		}
	}
	if len(actions) < 6 {
		t.Errorf("audit rows by console:mira: %v, want the sign-in, block, shadow, release, assign and resolve", actions)
	}
	shotsTaken, _ := filepath.Glob(filepath.Join(shots, "*.png"))
	if len(shotsTaken) < 13 {
		t.Errorf("%d screenshots, want one per page", len(shotsTaken))
	}
	t.Logf("end to end in %s", time.Since(start).Round(time.Millisecond))
}

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}

func netAddr(s string) net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", s)
	return a
}
