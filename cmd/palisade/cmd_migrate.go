package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pgcluster"
)

func init() {
	register(command{name: "migrate", summary: "apply (or list) the database migrations", run: cmdMigrate})
}

func cmdMigrate(args []string) error {
	fs := newFlagSet("migrate", "", "Apply the database migrations embedded in this binary, in order, each in its own\n"+
		"transaction. Several nodes may run it at once: an advisory lock makes one of them do the work.\n"+
		"With no database.url the private cluster in the data directory is started for the duration.\n"+
		"\"palisade serve\" migrates at start too; this command is for deploy pipelines and for --status.")
	configPath := fs.String("config", os.Getenv("PALISADE_CONFIG"), "configuration `file` (YAML)")
	status := fs.Bool("status", false, "list migrations and whether each is applied, instead of applying")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*configPath, os.Environ())
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := newLogger(cfg.Log)
	url := cfg.Database.URL
	if url == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o711); err != nil {
			return fmt.Errorf("data_dir: %w", err)
		}
		c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(cfg.DataDir, "postgres"), Database: "palisade", Logger: log.With("component", "postgres")})
		if err != nil {
			return fmt.Errorf("embedded PostgreSQL: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c.Stop(sctx)
		}()
		url = c.URL()
	}
	db, err := pg.Open(ctx, url, pg.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	if *status {
		states, err := pg.MigrationStatus(ctx, db.Pool())
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "VERSION\tNAME\tSTATE\tAPPLIED AT")
		for _, s := range states {
			at := ""
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%04d\t%s\t%s\t%s\n", s.Version, s.Name, s.State, at)
		}
		return w.Flush()
	}
	applied, err := pg.Migrate(ctx, db.Pool())
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Println("database is up to date")
	}
	for _, a := range applied {
		fmt.Println("applied", a)
	}
	return nil
}
