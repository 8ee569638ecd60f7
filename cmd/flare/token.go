package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"flare/hub/auth"
	"flare/incidents"
)

func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		sf      storeFlags
		role    string
		dept    string
		subject string
		ttl     time.Duration
		depts   string
	)
	fs := newFlagSet("token", "Prints a bearer token signed with FLARE_SECRET or the data dir's secret.", stderr)
	fs.StringVar(&role, "role", "", "leader, agent, hotline, admin, dept or system (required)")
	fs.StringVar(&dept, "dept", "", "department code (required for --role dept)")
	fs.StringVar(&subject, "sub", "", "who the token is for (default: the role, or role-dept)")
	fs.DurationVar(&ttl, "ttl", 12*time.Hour, "how long the token is valid")
	fs.StringVar(&sf.dataDir, "data-dir", "./flare-data", "folder holding the signing secret")
	fs.StringVar(&depts, "departments", "", "the server's departments JSON file (default: the built-in ones); a --dept it does not name is refused")
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if role == "" {
		return errors.New("--role is required (leader, agent, hotline, admin, dept or system)")
	}
	if subject == "" {
		subject = role
		if dept != "" {
			subject = role + "-" + dept
		}
	}
	if ttl > 366*24*time.Hour {
		return errors.New("--ttl is longer than a year")
	}
	s, err := signer(getenv, sf.dataDir)
	if err != nil {
		return err
	}
	tok, err := s.Issue(auth.Principal{Subject: subject, Role: incidents.Role(role), Dept: dept}, ttl)
	if err != nil {
		return err
	}
	if dept != "" {
		if err := knownDepartment(dept, depts); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
