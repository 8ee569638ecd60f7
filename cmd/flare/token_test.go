package main

import (
	"strings"
	"testing"
)

func TestTokenRefusesAnUnknownDepartment(t *testing.T) {
	e := env{"FLARE_SECRET": strings.Repeat("t", 40)}
	if out, err := runCmd(t, e, "token", "--role", "dept", "--dept", "nowhere"); err == nil || strings.Count(out, ".") == 2 {
		t.Errorf("flare token --dept nowhere = %q, %v; want an error and no token", out, err)
	}
	if out, err := runCmd(t, e, "token", "--role", "dept", "--dept", "water"); err != nil || strings.Count(out, ".") != 2 {
		t.Errorf("flare token --dept water = %q, %v; want a token", out, err)
	}
}
