package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"flare/citysim"
	"flare/hub/auth"
	"flare/incidents"
	"flare/incidents/defaults"
)

// openUsers opens and migrates the store chosen by sf, for the user
// commands.
func openUsers(ctx context.Context, sf *storeFlags) (systemStore, error) {
	st, _, err := sf.open(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.MigrateUp(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return st, nil
}

func runUser(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprint(w, `Usage: flare user COMMAND [flags]

Manages the dashboard's users (flare user COMMAND -h for its flags):
  add       add a user; the password is read from stdin (or --password-file)
  list      list the users
  passwd    set a user's password (reads it like add); ends their sessions
  disable   stop a user from signing in; ends their sessions
  enable    let a disabled user sign in again
`)
	}
	if len(args) == 0 {
		usage(stderr)
		return errors.New("flare user needs a command: add, list, passwd, disable or enable")
	}
	switch args[0] {
	case "add":
		return runUserAdd(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
	case "list":
		return runUserList(ctx, args[1:], getenv, stdout, stderr)
	case "passwd":
		return runUserPasswd(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
	case "disable", "enable":
		return runUserDisable(ctx, args[0], args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help", "-help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown user command %q", args[0])
}

// readPassword reads a password: the first line of path, or of stdin when
// path is empty or "-". It returns an error when the line is empty or
// breaks the password policy.
func readPassword(path string, stdin io.Reader) (string, error) {
	r, name := stdin, "stdin"
	if path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
		r, name = f, path
	}
	line, err := bufio.NewReader(io.LimitReader(r, auth.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from %s: %w", name, err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("no password on %s: give it as the first line", name)
	}
	if err := auth.CheckPasswordPolicy(pw); err != nil {
		return "", err
	}
	return pw, nil
}

// knownDepartment checks code against the departments (the built-in ones,
// or those of file as serve --departments reads them).
func knownDepartment(code, file string) error {
	tax, err := incidents.ParseTaxonomy(defaults.Categories)
	if err != nil {
		return err
	}
	data := defaults.Departments
	if file != "" {
		if data, err = os.ReadFile(file); err != nil {
			return fmt.Errorf("--departments: %w", err)
		}
	}
	deps, err := incidents.ParseDepartments(data, tax)
	if err != nil {
		// A custom taxonomy may be needed to read the file; accept any
		// well-formed code then.
		return nil
	}
	if _, ok := deps.Department(code); ok {
		return nil
	}
	var codes []string
	for _, d := range deps.List {
		codes = append(codes, d.Code)
	}
	slices.Sort(codes)
	return incidents.FieldError(incidents.CodeInvalid, "dept", "unknown department %q; the departments are %s", code, strings.Join(codes, ", "))
}

func runUserAdd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var (
		sf                        storeFlags
		u                         incidents.User
		passwordFile, departments string
	)
	fs := newFlagSet("user add", "Adds a dashboard user. The password (at least 10 characters) is the first line of stdin, or of --password-file.", stderr)
	sf.register(fs)
	fs.StringVar(&u.Name, "name", "", "sign-in name: a-z 0-9 . _ - (required)")
	fs.StringVar((*string)(&u.Role), "role", "", "leader, agent, hotline, admin, dept or system (required)")
	fs.StringVar(&u.Dept, "dept", "", "department code (required for --role dept)")
	fs.StringVar(&u.DisplayName, "display", "", "name shown in the dashboard (default: the sign-in name)")
	fs.StringVar(&passwordFile, "password-file", "", "file whose first line is the password (default: stdin)")
	fs.StringVar(&departments, "departments", "", "departments JSON file that --dept is checked against (default: the built-in ones)")
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	u.PasswordHash = "pending" // checked below, hashed after
	if err := incidents.CheckUser(u); err != nil {
		return userFlagError(err)
	}
	if u.Dept != "" {
		if err := knownDepartment(u.Dept, departments); err != nil {
			return userFlagError(err)
		}
	}
	pw, err := readPassword(passwordFile, stdin)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = auth.HashPassword(pw); err != nil {
		return err
	}
	st, err := openUsers(ctx, &sf)
	if err != nil {
		return err
	}
	defer st.Close()
	created, err := st.CreateUser(ctx, u)
	if err != nil {
		return userFlagError(err)
	}
	_, err = fmt.Fprintf(stdout, "added user %s (%s)\n", created.Name, describeRole(created))
	return err
}

// userFlagError names the flag of a field error (name, role, dept,
// display_name).
func userFlagError(err error) error {
	var e *incidents.Error
	if errors.As(err, &e) && e.Field != "" {
		flagName := strings.ReplaceAll(e.Field, "_", "-")
		if e.Field == "display_name" {
			flagName = "display"
		}
		return fmt.Errorf("--%s: %s", flagName, e.Message)
	}
	return err
}

func describeRole(u incidents.User) string {
	if u.Dept != "" {
		return string(u.Role) + ", " + u.Dept
	}
	return string(u.Role)
}

func runUserList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("user list", "Lists the dashboard's users.", stderr)
	sf.register(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	st, err := openUsers(ctx, &sf)
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tDEPT\tDISPLAY NAME\tCREATED (Asia/Shanghai)\tSTATUS")
	for _, u := range users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, orDash(u.Dept), orDash(u.DisplayName),
			u.CreatedAt.In(citysim.Zone).Format(time.DateTime), status)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runUserPasswd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var sf storeFlags
	var name, passwordFile string
	fs := newFlagSet("user passwd", "Sets a user's password (first line of stdin, or of --password-file) and ends their sessions.", stderr)
	sf.register(fs)
	fs.StringVar(&name, "name", "", "the user's sign-in name (required)")
	fs.StringVar(&passwordFile, "password-file", "", "file whose first line is the password (default: stdin)")
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if name == "" {
		return errors.New("--name is required")
	}
	pw, err := readPassword(passwordFile, stdin)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	st, err := openUsers(ctx, &sf)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.SetPassword(ctx, name, hash); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "password of %s set; their sessions have ended\n", name)
	return err
}

func runUserDisable(ctx context.Context, verb string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var sf storeFlags
	var name string
	fs := newFlagSet("user "+verb, "Disables (or enables) a user's sign-in; either ends their sessions.", stderr)
	sf.register(fs)
	fs.StringVar(&name, "name", "", "the user's sign-in name (required)")
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if name == "" {
		return errors.New("--name is required")
	}
	st, err := openUsers(ctx, &sf)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.SetDisabled(ctx, name, verb == "disable"); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "user %s %sd\n", name, verb)
	return err
}
