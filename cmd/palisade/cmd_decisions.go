package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func init() {
	register(command{name: "decisions", summary: "query the running node's decision log (why was this dropped?)", run: cmdDecisions})
}

func cmdDecisions(args []string) error {
	fs := newFlagSet("decisions", "", "Print the running node's recorded policy decisions, newest first: when, the\n"+
		"activity, its actor, the action decided, and the rules (and shadow rules) that fired\n"+
		"with their reason codes. Each node keeps its own bounded log of what it decided.\n\n"+
		"Examples:\n  palisade decisions --domain spam.example --since 1h\n"+
		"  palisade decisions --rule spam-hellthread-reject --action reject --limit 20\n"+
		"  palisade decisions --actor https://spam.example/users/bot --json")
	domain := fs.String("domain", "", "only this `domain` and its subdomains")
	actor := fs.String("actor", "", "only this actor `id`")
	rule := fs.String("rule", "", "only decisions where this rule `id` fired (or would have, in shadow mode)")
	action := fs.String("action", "", "only these `actions`, comma-separated (reject, quarantine, ...)")
	since := fs.String("since", "", "only decisions newer than this: a `duration` (30m, 1h, 7d) or an RFC 3339 time")
	limit := fs.Int("limit", 50, "at most this many decisions")
	asJSON := fs.Bool("json", false, "print JSON")
	af := addAdminFlags(fs)
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errors.New("decisions takes flags only")
	}
	q := url.Values{}
	for k, v := range map[string]string{"domain": *domain, "actor": *actor, "rule": *rule, "action": *action, "since": *since} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", strconv.Itoa(*limit))
	c, err := af.client()
	if err != nil {
		return err
	}
	var out struct {
		Decisions []decisionJSON `json:"decisions"`
	}
	if err := c.do("GET", "/admin/v1/decisions?"+q.Encode(), nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out.Decisions)
	}
	printDecisions(out.Decisions)
	return nil
}

func printDecisions(ds []decisionJSON) {
	if len(ds) == 0 {
		fmt.Println("no decisions match")
		return
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTION\tACTOR\tACTIVITY\tRULES\tREASONS\tSHADOW")
	for _, d := range ds {
		action := d.Action
		if d.Modifiers != "" && d.Modifiers != "none" {
			action += "+" + d.Modifiers
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.At.Local().Format(time.DateTime), action, d.Actor, d.ActivityID,
			dash(strings.Join(d.Fired, ",")), dash(strings.Join(d.Reasons, ",")), dash(strings.Join(d.Shadow, ",")))
	}
	tw.Flush()
	fmt.Printf("%d decisions (newest first)\n", len(ds))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
