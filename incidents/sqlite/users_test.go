package sqlite_test

import (
	"path/filepath"
	"testing"

	"flare/incidents"
	"flare/incidents/sqlite"
	"flare/incidents/storetest"
)

func TestUsers(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) incidents.UserStore {
		s := open(t, filepath.Join(t.TempDir(), "flare.db"), sqlite.Options{})
		migrate(t, s)
		return s
	})
}
