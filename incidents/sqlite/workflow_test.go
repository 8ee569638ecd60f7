package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"flare/incidents/sqlite"
	"flare/incidents/storetest"
)

func TestWorkflow(t *testing.T) {
	storetest.RunWorkflow(t, func(t *testing.T) func() storetest.WorkflowStore {
		path := filepath.Join(t.TempDir(), "flare.db")
		// Stores on one file stand for processes: they see each other's
		// commits by polling, and wait for each other's write lock.
		opts := sqlite.Options{PollInterval: 20 * time.Millisecond, BusyTimeout: time.Minute}
		s := open(t, path, opts)
		migrate(t, s)
		if err := s.Close(); err != nil {
			t.Fatalf("Close() = %v, want nil", err)
		}
		return func() storetest.WorkflowStore { return open(t, path, opts) }
	})
}
