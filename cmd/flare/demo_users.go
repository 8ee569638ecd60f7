package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"flare/hub/auth"
	"flare/incidents"
)

// demoUsers are the users `flare serve --demo` creates, so that a newcomer
// can sign in to every view of the dashboard: the duty leader, a call-floor
// agent, and some of the member departments and district governments.
var demoUsers = []incidents.User{
	{Name: "leader", DisplayName: "值班领导", Role: incidents.RoleLeader},
	{Name: "agent", DisplayName: "话务员 07", Role: incidents.RoleAgent},
	{Name: "water", DisplayName: "市水务局值班室", Role: incidents.RoleDept, Dept: "water"},
	{Name: "gas", DisplayName: "港华燃气值班室", Role: incidents.RoleDept, Dept: "gas"},
	{Name: "fire_rescue", DisplayName: "消防救援支队指挥中心", Role: incidents.RoleDept, Dept: "fire_rescue"},
	{Name: "urban", DisplayName: "市城管局值班室", Role: incidents.RoleDept, Dept: "urban"},
	{Name: "power", DisplayName: "供电局调度", Role: incidents.RoleDept, Dept: "power"},
	{Name: "xiangzhou", DisplayName: "香洲区政府值班室", Role: incidents.RoleDept, Dept: "xiangzhou"},
	{Name: "doumen", DisplayName: "斗门区政府值班室", Role: incidents.RoleDept, Dept: "doumen"},
	{Name: "jinwan", DisplayName: "金湾区政府值班室", Role: incidents.RoleDept, Dept: "jinwan"},
}

// createDemoUsers creates the demo users that do not exist yet, each with a
// random password, and prints their sign-in details once to stdout. Users
// that already exist keep their password. It returns the store's error.
func createDemoUsers(ctx context.Context, users incidents.UserStore, baseURL string, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Demo users: sign in at %s/ (passwords are shown this once)\n", baseURL)
	fmt.Fprintln(tw, "  NAME\tROLE\tPASSWORD\tSHOWN AS")
	for _, u := range demoUsers {
		if _, err := users.GetUser(ctx, u.Name); err == nil {
			fmt.Fprintf(tw, "  %s\t%s\t(unchanged; flare user passwd --name %s)\t%s\n", u.Name, describeRole(u), u.Name, u.DisplayName)
			continue
		} else if incidents.ErrorCode(err) != incidents.CodeNotFound {
			return fmt.Errorf("demo users: %w", err)
		}
		pw, err := auth.NewPassword(12)
		if err != nil {
			return fmt.Errorf("demo users: %w", err)
		}
		if u.PasswordHash, err = auth.HashPassword(pw); err != nil {
			return fmt.Errorf("demo users: %w", err)
		}
		if _, err := users.CreateUser(ctx, u); err != nil && incidents.ErrorCode(err) != incidents.CodeConflict {
			return fmt.Errorf("demo users: %w", err)
		} else if err != nil {
			// Another node created it meanwhile; its password was printed there.
			fmt.Fprintf(tw, "  %s\t%s\t(created by another node)\t%s\n", u.Name, describeRole(u), u.DisplayName)
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", u.Name, describeRole(u), pw, u.DisplayName)
	}
	return tw.Flush()
}
