package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// envName returns the environment variable that a flag also reads:
// --data-dir reads FLARE_DATA_DIR.
func envName(flagName string) string {
	return "FLARE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args into fs; every flag not given on the command line
// takes its FLARE_* environment variable when that is set. It returns
// flag.ErrHelp for -h.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			}
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// newFlagSet returns a FlagSet whose usage names the env variables.
func newFlagSet(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("flare "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: flare %s [flags]\n\n%s\n\nFlags (each also read from FLARE_<NAME>):\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// storeFlags are the flags that choose the store, shared by serve, migrate
// and token.
type storeFlags struct {
	dataDir     string
	databaseURL string
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.dataDir, "data-dir", "./flare-data", "folder for the embedded store and the signing secret")
	fs.StringVar(&s.databaseURL, "database-url", "", "PostgreSQL URL (postgres://...); the embedded SQLite store when empty")
}

// sqlitePath is the embedded store's file.
func (s *storeFlags) sqlitePath() string { return filepath.Join(s.dataDir, "flare.db") }

// logFlags choose the log format and level.
type logFlags struct {
	format string
	level  string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.format, "log-format", "auto", "log format: json, console, or auto (console when stderr is a terminal)")
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn, error")
}

// logger builds the zerolog logger: JSON by default, readable console
// output when stderr is a terminal.
func (l *logFlags) logger(stderr io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(l.level)
	if err != nil || l.level == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", l.level)
	}
	var w io.Writer = stderr
	switch l.format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.DateTime}
	case "auto":
		if f, ok := stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.DateTime}
		}
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format %q: want json, console or auto", l.format)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}
