package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/oauth"
)

// phoneScript signs in on the authorize page in headless Chromium emulating
// a phone, with JavaScript disabled: it fills the form, taps Authorize and
// reports where the browser landed and how the form was laid out.
const phoneScript = `
import { chromium } from 'playwright-core';
const env = (k) => process.env[k];
const browser = await chromium.launch({ executablePath: env('CHROMIUM'), headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true,
    hasTouch: true, javaScriptEnabled: false,
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1' });
  const page = await ctx.newPage();
  const first = await page.goto(env('AUTH_URL'));
  const box = (sel) => page.locator(sel).boundingBox();
  const layout = { main: await box('main'), login: await box('#login'), password: await box('#password'),
    authorize: await box('button.primary'), deny: await box('button[value=deny]') };
  await page.fill('#login', env('LOGIN'));
  await page.fill('#password', env('PASSWORD'));
  await page.screenshot({ path: env('SHOT'), fullPage: true });
  await Promise.all([page.waitForURL((u) => u.href.startsWith(env('CALLBACK'))), page.tap('button.primary')]);
  console.log(JSON.stringify({ status: first.status(), landed: page.url(), body: await page.locator('body').innerText(), layout }));
} finally {
  await browser.close();
}
`

func TestSignInOnAPhoneWithoutJavaScript(t *testing.T) {
	nodeBin, nerr := exec.LookPath("node")
	chromium := "/usr/bin/chromium"
	modules := filepath.Join("..", "..", "testdata", "node")
	_, cerr := os.Stat(chromium)
	_, perr := os.Stat(filepath.Join(modules, "node_modules", "playwright-core"))
	if nerr != nil || cerr != nil || perr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs node, %s and playwright-core in testdata/node (.ci/deps): %v %v %v", chromium, nerr, cerr, perr)
		}
		t.Skip("node, chromium or playwright-core missing (run .ci/deps)")
	}
	e := newEnv(t, oauth.Options{})
	e.user("phoebe", data.RoleUser)
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app got the code")) }))
	defer callback.Close()
	cb := callback.URL + "/cb"
	app := e.app(cb, "read write")
	q := url.Values{"response_type": {"code"}, "client_id": {app.ClientID}, "redirect_uri": {cb}, "scope": {"read write"},
		"state": {"s1"}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
	shot := filepath.Join(t.TempDir(), "authorize-phone.png")
	if d := os.Getenv("PALISADE_SHOTS"); d != "" { // keep the screenshot to look at
		shot = filepath.Join(d, "authorize-phone.png")
	}
	cmd := exec.Command(nodeBin, "--input-type=module", "-e", phoneScript)
	cmd.Dir = modules
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "AUTH_URL="+e.srv.URL+"/oauth/authorize?"+q.Encode(),
		"LOGIN=phoebe@mail.example", "PASSWORD="+password, "CALLBACK="+cb, "SHOT="+shot)
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	out, err := cmd.Output()
	timer.Stop()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("chromium script: %v\n%s\n%s", err, out, stderr)
	}
	type box struct{ X, Y, Width, Height float64 }
	var res struct {
		Status int
		Landed string
		Body   string
		Layout struct{ Main, Login, Password, Authorize, Deny box }
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The page fits the phone's width, with full-width fields and buttons
	// big enough to tap (44 px, Apple's and Google's minimum).
	l := res.Layout
	if res.Status != 200 || l.Main.Width > 390 || l.Login.Width < 300 || l.Password.Width < 300 ||
		l.Authorize.Height < 44 || l.Deny.Height < 44 || l.Authorize.X+l.Authorize.Width > 390 {
		t.Fatalf("layout on a 390 px phone: %+v (status %d)", l, res.Status)
	}
	landed, err := url.Parse(res.Landed)
	if err != nil || !strings.HasPrefix(res.Landed, cb+"?") || landed.Query().Get("state") != "s1" || res.Body != "app got the code" {
		t.Fatalf("landed on %q (%q)", res.Landed, res.Body)
	}
	st, tr := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {landed.Query().Get("code")}, "client_id": {app.ClientID},
		"redirect_uri": {cb}, "code_verifier": {verifier}})
	if st != 200 || tr.Scope != "read write" {
		t.Fatalf("exchange of the code the browser brought back: %d %+v", st, tr)
	}
	if g, err := e.grantOf(tr.AccessToken); err != nil || g.AccountID == 0 {
		t.Fatalf("grant %+v %v", g, err)
	}
}
