package main

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
)

func init() {
	register(command{name: "accounts", summary: "local accounts of the running node: create, list, suspend", run: cmdAccounts})
}

const accountsSubcommands = "create, list, suspend or unsuspend"

const accountsDescription = `Subcommands on the running node (through its admin API):
  create NAME --email E [--password P] [--role user|moderator|admin] [--locked]
        create local account NAME (@NAME@host) with its login; without --password
        a password is generated and printed once.
  list [--json]          list the local accounts, newest first.
  suspend NAME [--reason R]
                         suspend NAME: its profile and posts stop being served.
  unsuspend NAME         lift the suspension.

Usernames are 1 to 30 ASCII letters, digits or _, unique regardless of case;
names of the instance's own actors and paths (actor, relay, admin, inbox,
users, ...) are reserved. Every change is written to the audit log with who
made it (palisade reads your user name).

Reaching the node: these commands read the node's configuration (--config, or
$PALISADE_CONFIG, and PALISADE_* variables) for listen.admin and data_dir, and
authenticate with the token the node wrote to <data_dir>/admin.token.

Examples:
  palisade accounts create alice --email alice@example.com --role admin
  palisade accounts list
  palisade accounts suspend spammer --reason "spam wave"`

func cmdAccounts(args []string) error {
	fs := newFlagSet("accounts", "SUBCOMMAND ...", accountsDescription)
	if err := fs.Parse(args); err != nil {
		return err
	}
	sub, rest := fs.Arg(0), fs.Args()
	if len(rest) > 0 {
		rest = rest[1:]
	}
	switch sub {
	case "create":
		return accountsCreate(rest)
	case "list":
		return accountsList(rest)
	case "suspend":
		return accountsSuspend(rest, true)
	case "unsuspend":
		return accountsSuspend(rest, false)
	case "":
		fs.Usage()
		return errors.New("want a subcommand: " + accountsSubcommands)
	}
	return fmt.Errorf("unknown subcommand %q (want %s)", sub, accountsSubcommands)
}

func accountsCreate(args []string) error {
	fs := newFlagSet("accounts create", "NAME", "Create local account NAME with its login on the running node.\n"+
		"Without --password a random password is generated and printed once (only its hash is stored).\n\n"+
		"Example:\n  palisade accounts create alice --email alice@example.com --role admin\n"+
		"  palisade accounts create newsbot --email bot@example.com --bot --locked")
	email := fs.String("email", "", "e-mail address of the login (required)")
	password := fs.String("password", "", "password, 8 to 72 bytes (default: generate one); it shows in your shell history")
	role := fs.String("role", "user", "user, moderator or admin")
	locked := fs.Bool("locked", false, "followers need approval (manuallyApprovesFollowers)")
	bot := fs.Bool("bot", false, "mark the account as automated (actor type Service)")
	display := fs.String("display-name", "", "display name")
	af := addAdminFlags(fs)
	if _, err := parseOneArg(fs, args, "want one NAME"); err != nil {
		return err
	}
	if *email == "" {
		fs.Usage()
		return errors.New("want --email: every local account has a login e-mail address")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var out struct {
		Account           accountJSON `json:"account"`
		GeneratedPassword string      `json:"generated_password"`
	}
	req := createAccountRequest{Username: fs.Arg(0), Email: *email, Password: *password, Role: *role, Locked: *locked,
		Bot: *bot, DisplayName: *display}
	if err := c.do("POST", "/admin/v1/accounts", req, &out); err != nil {
		return err
	}
	fmt.Printf("created %s (id %s, role %s): %s\n", out.Account.Username, out.Account.ID, out.Account.Role, out.Account.URI)
	if out.GeneratedPassword != "" {
		fmt.Printf("password: %s\n(shown once; only its hash is stored)\n", out.GeneratedPassword)
	}
	return nil
}

func accountsList(args []string) error {
	fs := newFlagSet("accounts list", "", "List the local accounts of the running node, newest first.\n\n"+
		"Example:\n  palisade accounts list\n  palisade accounts list --json")
	asJSON := fs.Bool("json", false, "print JSON")
	af := addAdminFlags(fs)
	c, err := af.parseClient(fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: accounts list takes flags only", fs.Args())
	}
	var out struct {
		Accounts []accountJSON `json:"accounts"`
	}
	if err := c.do("GET", "/admin/v1/accounts", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(out.Accounts)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tID\tROLE\tEMAIL\tSTATE\tFOLLOWERS\tSTATUSES\tCREATED")
	for _, a := range out.Accounts {
		state := "active"
		if a.SuspendedAt != nil {
			state = "suspended"
		} else if a.SilencedAt != nil {
			state = "silenced"
		}
		if a.Locked {
			state += ",locked"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", a.Username, a.ID, a.Role, a.Email, state, a.FollowersCount,
			a.StatusesCount, a.CreatedAt.Local().Format("2006-01-02 15:04"))
	}
	tw.Flush()
	fmt.Printf("%d local accounts\n", len(out.Accounts))
	return nil
}

func accountsSuspend(args []string, suspend bool) error {
	name, verb := "accounts unsuspend", "unsuspend"
	help := "Lift the suspension of local account NAME.\n\nExample:\n  palisade accounts unsuspend alice"
	if suspend {
		name, verb = "accounts suspend", "suspend"
		help = "Suspend local account NAME: its profile and posts stop being served and it cannot sign in.\n" +
			"Its data is kept; unsuspend restores it.\n\nExample:\n  palisade accounts suspend spammer --reason \"spam wave\""
	}
	fs := newFlagSet(name, "NAME", help)
	var reason *string
	if suspend {
		reason = fs.String("reason", "", "why, for the audit log")
	}
	af := addAdminFlags(fs)
	if _, err := parseOneArg(fs, args, "want one NAME (see palisade accounts list)"); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var body any
	if reason != nil && *reason != "" {
		body = map[string]string{"reason": *reason}
	}
	var out struct {
		Account accountJSON `json:"account"`
		Changed bool        `json:"changed"`
	}
	if err := c.do("POST", "/admin/v1/accounts/"+pathEscape(fs.Arg(0))+"/"+verb, body, &out); err != nil {
		return err
	}
	switch {
	case !out.Changed && suspend:
		fmt.Printf("%s was already suspended\n", out.Account.Username)
	case !out.Changed:
		fmt.Printf("%s was not suspended\n", out.Account.Username)
	default:
		fmt.Printf("%sed %s\n", verb, out.Account.Username)
	}
	return nil
}
