// Command flare runs the Flare command hub and its tools.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
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
	return map[string]command{
		"serve":    {"run the hub (the default)", runServe},
		"migrate":  {"apply (up) or list (status) schema migrations", runMigrate},
		"token":    {"print a signed bearer token", runToken},
		"version":  {"print the version", runVersion},
		"loadtest": {"drive a running Flare with calls and measure it", runLoadtest},
		"detect":   {"find incident clusters in a file of calls", runDetect},
		"simulate": {"generate or post a simulated city call stream", runSimulate},
		"user":     {"add, list and manage dashboard users", runUser},
	}
}

// run parses the subcommand and runs it until it ends or ctx is cancelled
// (SIGINT or SIGTERM).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	name, rest := "serve", []string(nil)
	if len(args) > 1 {
		name, rest = args[1], args[2:]
		if strings.HasPrefix(name, "-") && name != "-h" && name != "--help" && name != "-help" {
			name, rest = "serve", args[1:] // flags alone: serve with them
		}
	}
	cmds := commands()
	cmd, ok := cmds[name]
	if !ok {
		switch name {
		case "help", "-h", "--help", "-help":
			usage(stdout, cmds)
			return nil
		}
		usage(stderr, cmds)
		return fmt.Errorf("unknown command %q", name)
	}
	return cmd.run(ctx, rest, getenv, stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "Usage: flare [command] [flags]   (flare COMMAND -h for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
}
