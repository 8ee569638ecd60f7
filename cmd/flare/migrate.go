package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "flare migrate up|status [flags]: apply or list the schema migrations"
	if len(args) == 0 || (args[0] != "up" && args[0] != "status") {
		fmt.Fprintln(stderr, "Usage:", usage)
		return errors.New("migrate needs up or status")
	}
	action := args[0]
	var sf storeFlags
	fs := newFlagSet("migrate "+action, usage, stderr)
	sf.register(fs)
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	store, kind, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if action == "up" {
		if err := store.MigrateUp(ctx); err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
	}
	ms, err := store.MigrationStatus(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	fmt.Fprintf(stdout, "store: %s\n", kind)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
	pending := 0
	for _, m := range ms {
		state, at := "applied", m.AppliedAt.UTC().Format(time.RFC3339)
		if !m.Applied {
			state, at = "pending", "-"
			pending++
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", m.Version, m.Name, state, at)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d migrations, %d pending\n", len(ms), pending)
	return nil
}
