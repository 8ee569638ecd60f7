package postgres_test

import (
	"testing"

	"flare/incidents"
	"flare/incidents/postgres"
	"flare/incidents/postgres/pgtest"
	"flare/incidents/storetest"
)

func TestUsers(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) incidents.UserStore {
		s := open(t, pgtest.NewDatabase(t), postgres.Options{})
		migrate(t, s)
		return s
	})
}
