package main

import (
	"fmt"
	"syscall"
)

// raiseOpenFileLimit raises the soft limit on open files to the hard limit,
// as a node holding thousands of WebSocket connections (or a load test
// opening them) needs one descriptor each. It returns the soft limit in
// force afterwards, or the system's error.
func raiseOpenFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("get open file limit: %w", err)
	}
	if lim.Cur >= lim.Max {
		return lim.Cur, nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raise open file limit to %d: %w", lim.Max, err)
	}
	return lim.Cur, nil
}
