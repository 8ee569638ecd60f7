// Command flare runs the Flare command hub and its tools.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "flare: %v\n", err)
		os.Exit(1)
	}
}

// command is one subcommand: args are those after its name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

// commands lists the subcommands by name.
func commands() map[string]command {
	return map[string]command{}
}

// run parses the subcommand and runs it until it ends or ctx is cancelled
// (SIGINT or SIGTERM).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	name, rest := "serve", []string(nil)
	if len(args) > 1 {
		name, rest = args[1], args[2:]
	}
	cmds := commands()
	cmd, ok := cmds[name]
	if !ok {
		return fmt.Errorf("unknown command %q (try: flare help)", name)
	}
	return cmd.run(ctx, rest, getenv, stdout, stderr)
}
