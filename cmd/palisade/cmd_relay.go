package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func init() {
	register(command{name: "relay", summary: "the relay's subscribers on the running node", run: cmdRelay})
}

const relayDescription = `Subcommands on the running node (through its admin API):
  subscribers list [--json]        every instance known to the relay: state, style,
                                   software, subscribed since, delivery health.
  subscribers approve DOMAIN       accept a pending request (approval mode), or allow
                                   DOMAIN to subscribe (allowlist mode), or lift a block.
  subscribers reject DOMAIN        refuse a pending request (the instance gets a Reject).
  subscribers remove DOMAIN        end a subscription (the instance gets a Reject; it
                                   may subscribe again).
  subscribers block DOMAIN [--note N]
                                   end any subscription and refuse DOMAIN's Follows.
  subscribers direction DOMAIN both|receive_only|push_only
                                   receive_only: its posts are not relayed;
                                   push_only: its posts are relayed, it receives nothing.

States: active (subscribed), pending (awaiting approval), allowed (approved
before asking), blocked. Mastodon admins subscribe by adding
https://HOST/inbox as a relay; Pleroma/Akkoma admins by following
https://HOST/actor. See docs/relay.md.` + relayNodeHelp

const relayNodeHelp = `

Reaching the node: the node's configuration (--config, or $PALISADE_CONFIG,
and PALISADE_* variables) gives listen.admin and data_dir; the admin token is
read from <data_dir>/admin.token.

Examples:
  palisade relay subscribers list
  palisade relay subscribers approve mastodon.example
  palisade relay subscribers block spam.example --note "spam relay"`

func cmdRelay(args []string) error {
	fs := newFlagSet("relay", "subscribers SUBCOMMAND ...", relayDescription)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.Arg(0) != "subscribers" {
		fs.Usage()
		if fs.NArg() == 0 {
			return errors.New("want a subcommand: palisade relay subscribers list|approve|reject|remove|block|direction")
		}
		return fmt.Errorf("unknown subcommand %q: want palisade relay subscribers list|approve|reject|remove|block|direction", fs.Arg(0))
	}
	rest := fs.Args()[1:]
	sub := ""
	if len(rest) > 0 {
		sub, rest = rest[0], rest[1:]
	}
	switch sub {
	case "list":
		return relayList(rest)
	case "approve", "reject", "remove":
		return relayChange(sub, rest)
	case "block":
		return relayBlock(rest)
	case "direction":
		return relayDirection(rest)
	case "":
		fs.Usage()
		return errors.New("want palisade relay subscribers list|approve|reject|remove|block|direction")
	}
	return fmt.Errorf("unknown subcommand %q: want list, approve, reject, remove, block or direction", sub)
}

func relayList(args []string) error {
	fs := newFlagSet("relay subscribers list", "", "List every instance known to the relay, with its delivery health.\n\n"+
		"Example:\n  palisade relay subscribers list")
	asJSON := fs.Bool("json", false, "print JSON")
	af := addAdminFlags(fs)
	c, err := af.parseClient(fs, args)
	if err != nil {
		return err
	}
	var out struct {
		Subscribers []relaySubscriberView `json:"subscribers"`
	}
	if err := c.do("GET", "/admin/v1/relay/subscribers", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out.Subscribers)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tSTATE\tSTYLE\tSOFTWARE\tSINCE\tSENT\tFAILURES\tLAST SUCCESS\tLAST FAILURE")
	counts := map[string]int{}
	for _, s := range out.Subscribers {
		counts[s.State]++
		style := s.Style
		if s.Direction != "" && s.Direction != "both" {
			style += " " + s.Direction
		}
		if s.Style == "litepub" && !s.FollowBackAccepted {
			style += " (follow-back pending)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", s.Domain, s.State, dash(style),
			dash(strings.TrimSpace(s.Software+" "+s.SoftwareVersion)), day(s.SubscribedAt), s.DeliveriesSent,
			s.ConsecutiveFailures, stamp(s.LastSuccess), stamp(s.LastFailure))
	}
	tw.Flush()
	fmt.Printf("%d active, %d pending, %d allowed, %d blocked\n", counts["active"], counts["pending"], counts["allowed"], counts["blocked"])
	return nil
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

var relayChangeHelp = map[string]string{
	"approve": "Accept DOMAIN's pending subscription (it gets the Accept), or allow DOMAIN to subscribe\n(allowlist mode), or lift its block.",
	"reject":  "Refuse DOMAIN's pending subscription (it gets a Reject).",
	"remove":  "End DOMAIN's subscription (it gets a Reject of its Follow) and forget it; it may subscribe again.",
}

func relayChange(verb string, args []string) error {
	fs := newFlagSet("relay subscribers "+verb, "DOMAIN", relayChangeHelp[verb]+"\n\nExample:\n  palisade relay subscribers "+verb+" mastodon.example")
	af := addAdminFlags(fs)
	domain, err := parseOneArg(fs, args, "want one DOMAIN")
	if err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	method, path := "POST", "/admin/v1/relay/subscribers/"+pathEscape(domain)+"/"+verb
	if verb == "remove" {
		method, path = "DELETE", "/admin/v1/relay/subscribers/"+pathEscape(domain)
	}
	return relayPrint(c.do(method, path, nil, new(relayChangeAnswer)), verb, domain)
}

type relayChangeAnswer struct {
	Subscriber *relaySubscriberView `json:"subscriber"`
}

func relayPrint(err error, verb, domain string) error {
	if err != nil {
		return err
	}
	past := map[string]string{"approve": "approved", "reject": "rejected", "remove": "removed", "block": "blocked", "direction": "updated"}[verb]
	fmt.Printf("%s %s\n", past, domain)
	return nil
}

func relayBlock(args []string) error {
	fs := newFlagSet("relay subscribers block", "DOMAIN", "End DOMAIN's subscription, if any, and refuse its Follows from now on.\n\n"+
		"Example:\n  palisade relay subscribers block spam.example --note \"spam relay\"")
	note := fs.String("note", "", "why (kept with the block, shown in list --json)")
	af := addAdminFlags(fs)
	domain, err := parseOneArg(fs, args, "want one DOMAIN")
	if err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	return relayPrint(c.do("POST", "/admin/v1/relay/subscribers/"+pathEscape(domain)+"/block",
		map[string]string{"note": *note}, new(relayChangeAnswer)), "block", domain)
}

func relayDirection(args []string) error {
	fs := newFlagSet("relay subscribers direction", "DOMAIN both|receive_only|push_only",
		"Set whether DOMAIN's posts are relayed (push) and whether it receives the relay's posts.\n\n"+
			"Example:\n  palisade relay subscribers direction big.example receive_only")
	af := addAdminFlags(fs)
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("want DOMAIN and one of both, receive_only, push_only")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	return relayPrint(c.do("POST", "/admin/v1/relay/subscribers/"+pathEscape(fs.Arg(0))+"/direction",
		map[string]string{"direction": fs.Arg(1)}, new(relayChangeAnswer)), "direction", fs.Arg(0))
}
