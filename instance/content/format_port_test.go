package content

import (
	"strings"
	"testing"
)

// Handles on hosts with a port (test networks, nodes behind a non-default
// port) are mentions too; the port is part of the account's domain.
func TestFormatMentionWithPort(t *testing.T) {
	f := Format("hi @alice@127.0.0.21:8080 and @bob@social.example.", func(acct string) (string, bool) {
		switch acct {
		case "alice@127.0.0.21:8080":
			return "http://127.0.0.21:8080/users/alice", true
		case "bob@social.example":
			return "https://social.example/@bob", true
		}
		return "", false
	}, "here.example")
	if len(f.Mentions) != 2 || f.Mentions[0].Domain != "127.0.0.21:8080" || f.Mentions[1].Domain != "social.example" {
		t.Fatalf("mentions = %+v", f.Mentions)
	}
	if !strings.Contains(f.HTML, `href="http://127.0.0.21:8080/users/alice"`) || !strings.Contains(f.HTML, "</a></span>.") {
		t.Errorf("html = %s", f.HTML)
	}
}

// Hashtag links follow the instance's base URL when one is given (http
// and a port on test networks), and default to https for a bare host.
func TestFormatHashtagBase(t *testing.T) {
	if h := Format("#Go", nil, "http://127.0.0.1:8080").HTML; !strings.Contains(h, `href="http://127.0.0.1:8080/tags/go"`) {
		t.Errorf("with a base URL: %s", h)
	}
	if h := Format("#Go", nil, "social.example").HTML; !strings.Contains(h, `href="https://social.example/tags/go"`) {
		t.Errorf("with a host: %s", h)
	}
}
