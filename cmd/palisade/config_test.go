package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The shipped example documents every key with its default: it must decode
// to exactly Default(), and every key must appear in it.
func TestExampleConfigIsTheDefault(t *testing.T) {
	var got Config
	if err := decodeConfig("palisade.example.yaml", exampleConfig, &got); err != nil {
		t.Fatal(err)
	}
	want := Default()
	// Lists decode as empty, not nil.
	walkConfig(reflect.ValueOf(&got).Elem(), "", func(_ string, v reflect.Value) {
		if v.Kind() == reflect.Slice && v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
		}
	})
	if len(got.Policy.Domains) == 0 {
		got.Policy.Domains = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("palisade.example.yaml does not decode to Default():\n got %+v\nwant %+v", got, want)
	}
	walkConfig(reflect.ValueOf(&want).Elem(), "", func(path string, _ reflect.Value) {
		leaf := path[strings.LastIndex(path, ".")+1:]
		if !strings.Contains(string(exampleConfig), "\n"+indentFor(path)+leaf+":") {
			t.Errorf("key %s is not documented in palisade.example.yaml", path)
		}
	})
}

func indentFor(path string) string { return strings.Repeat("  ", strings.Count(path, ".")) }

func TestConfigFileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/p.yaml"
	os.WriteFile(path, []byte("host: social.example\ningress:\n  max_body: 2MiB\n  dedup_retention: 3d\npolicy:\n  domains:\n    - domain: spam.example\n      severity: suspend\n"), 0o600)
	cfg, err := LoadConfig(path, []string{"PALISADE_LOG_LEVEL=debug", "PALISADE_PROXY_TRUSTED=10.0.0.1, 10.1.0.0/16", "PALISADE_INGRESS_DOMAIN_RATE=7.5", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "social.example" || cfg.Ingress.MaxBody != 2<<20 || cfg.Ingress.DedupRetention.D() != 72*time.Hour {
		t.Errorf("file values not applied: %+v", cfg)
	}
	if cfg.Log.Level != "debug" || len(cfg.Proxy.Trusted) != 2 || cfg.Proxy.Trusted[1] != "10.1.0.0/16" || cfg.Ingress.DomainRate != 7.5 {
		t.Errorf("environment not applied: %+v", cfg)
	}
	if len(cfg.Policy.Domains) != 1 || cfg.Policy.Domains[0].Severity != "suspend" {
		t.Errorf("domains: %+v", cfg.Policy.Domains)
	}
}

func TestConfigErrorsNameTheProblem(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file string
		env  []string
		want string
	}{
		{file: "ingres:\n  max_body: 1MiB\n", want: `field ingres not found`},
		{file: "ingress:\n  max_body: lots\n", want: `"lots" is not a size`},
		{file: "ingress:\n  max_body: 100MiB\n", want: `ingress.max_body: 104857600 bytes is more than the inbound queue holds per activity (at most 64MiB`},
		{file: "ingress:\n  dedup_retention: forever\n", want: `"forever" is not a duration`},
		{file: "ingress:\n  commit_window: 1s\n", want: `ingress.commit_window: 1s: want 0 (sync at once) up to 50ms`},
		{env: []string{"PALISADE_INGRESS_COMMIT_WINDOW=-1ms"}, want: `ingress.commit_window: -1ms: want 0`},
		{file: "log:\n  level: loud\n", want: `log.level: "loud" (want one of debug, info, warn, error)`},
		{file: "policy:\n  domains:\n    - domain: x.example\n      severity: nuke\n", want: `severity "nuke"`},
		{file: "proxy:\n  trusted: [nonsense]\n", want: `proxy.trusted: "nonsense"`},
		{file: "federation:\n  scheme: http\n", want: `federation.scheme: "http" mints ids peers cannot verify over TLS; it needs federation.allow_http: true`},
		{file: "federation:\n  scheme: gopher\n", want: `federation.scheme: "gopher": want https`},
		{env: []string{"PALISADE_INGRES_MAX_BODY=1"}, want: "PALISADE_INGRES_MAX_BODY names no configuration key"},
		{env: []string{"PALISADE_FEDERATION_ALLOW_HTTP=maybe"}, want: "want true or false"},
	} {
		path := ""
		if tc.file != "" {
			path = dir + "/c.yaml"
			os.WriteFile(path, []byte(tc.file), 0o600)
		}
		_, err := LoadConfig(path, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %v: got error %v, want it to contain %q", tc.file, tc.env, err, tc.want)
		}
	}
}

func TestNoConfigIsAWorkingDefault(t *testing.T) {
	cfg, err := LoadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "localhost" || cfg.Database.URL != "" {
		t.Errorf("default: %+v", cfg)
	}
}

// docs/configuration.md carries the example verbatim, so the reference
// cannot drift from the defaults.
func TestConfigurationReferenceIsCurrent(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), string(exampleConfig)) {
		t.Error("docs/configuration.md does not contain cmd/palisade/palisade.example.yaml verbatim; regenerate it with: go run ./cmd/palisade config defaults")
	}
}
