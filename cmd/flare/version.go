package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// release is Flare's version number.
const release = "0.1.0"

// version returns the release with the VCS revision the binary was built
// from, when known.
func version() string {
	v := release
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += "+" + rev + dirty
		}
	}
	return v
}

func runVersion(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_, err := fmt.Fprintf(stdout, "flare %s %s %s/%s\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
