package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// adminFlags are the flags of every command that talks to a running node's
// admin API: where the node is and how to authenticate.
type adminFlags struct {
	config    *string
	admin     *string
	tokenFile *string
}

// addAdminFlags adds --config, --admin and --token-file to fs.
func addAdminFlags(fs *flag.FlagSet) *adminFlags {
	return &adminFlags{
		config:    fs.String("config", os.Getenv("PALISADE_CONFIG"), "configuration `file` of the node (default $PALISADE_CONFIG); gives listen.admin and data_dir"),
		admin:     fs.String("admin", "", "admin listener `address` (host:port or URL); default: listen.admin of the configuration"),
		tokenFile: fs.String("token-file", "", "file holding the admin token; default: <data_dir>/"+adminTokenFile),
	}
}

// adminClient calls a node's admin API (/admin/v1/).
type adminClient struct {
	base  string // "http://127.0.0.1:9090"
	token string
	user  string
	http  *http.Client
}

// client builds the client from the flags, the configuration file and the
// PALISADE_* environment, as "palisade serve" would read them.
// parseClient parses args into fs (flags may follow arguments) and
// returns a client for the node the flags name.
func (f *adminFlags) parseClient(fs *flag.FlagSet, args []string) (*adminClient, error) {
	if err := parseInterspersed(fs, args); err != nil {
		return nil, err
	}
	return f.client()
}

func (f *adminFlags) client() (*adminClient, error) {
	cfg, err := LoadConfig(*f.config, os.Environ())
	if err != nil {
		return nil, err
	}
	addr := *f.admin
	if addr == "" {
		addr = cfg.Listen.Admin
	}
	base, err := adminBaseURL(addr)
	if err != nil {
		return nil, err
	}
	tf := *f.tokenFile
	if tf == "" {
		tf = filepath.Join(cfg.DataDir, adminTokenFile)
	}
	tok, err := os.ReadFile(tf)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no admin token at %s: the node writes it at its first start; "+
				"point --config at the node's configuration (data_dir) or use --token-file", tf)
		}
		return nil, fmt.Errorf("reading the admin token: %w (run as the user the node runs as, or use --token-file)", err)
	}
	c := &adminClient{base: base, token: strings.TrimSpace(string(tok)), http: &http.Client{Timeout: 10 * time.Minute}}
	if u, err := user.Current(); err == nil {
		c.user = u.Username
	}
	return c, nil
}

// adminBaseURL turns listen.admin ("127.0.0.1:9090", ":9090",
// "0.0.0.0:9090") or a URL into the URL to call: a wildcard address is
// reached on loopback.
func adminBaseURL(addr string) (string, error) {
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		return strings.TrimRight(addr, "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("admin address %q: want host:port (listen.admin) or a URL", addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// do calls method path with body (JSON-encoded; a []byte is sent as is)
// and decodes the JSON answer into out (when not nil). An error answer
// becomes an error carrying the node's message.
func (c *adminClient) do(method, path string, body any, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if c.user != "" {
		req.Header.Set("X-Palisade-User", c.user)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("cannot reach the node's admin API at %s: is palisade serve running, and is this its listen.admin?", c.base)
		}
		return fmt.Errorf("admin API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
		}
		return fmt.Errorf("admin API %s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out == nil {
		return nil
	}
	if p, ok := out.(*[]byte); ok {
		*p = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API %s %s: unreadable answer: %w", method, path, err)
	}
	return nil
}

// pathEscape escapes one path segment.
func pathEscape(s string) string { return url.PathEscape(s) }

// printJSON writes v indented to standard output (--json output).
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func jsonUnmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("unreadable answer from the node: %w", err)
	}
	return nil
}

// parseOneArg parses args into fs (flags may come before or after the
// argument) and requires exactly one positional argument; otherwise it
// prints the usage and returns missing as the error.
func parseOneArg(fs *flag.FlagSet, args []string, missing string) (string, error) {
	if err := parseInterspersed(fs, args); err != nil {
		return "", err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return "", errors.New(missing)
	}
	return fs.Arg(0), nil
}
