package store

import (
	"testing"

	"github.com/herald-webhooks/herald/app/store/pgtest"
)

func mustOpenPostgres(t testing.TB, o Options) *Postgres {
	t.Helper()
	if o.DatabaseURL == "" {
		o.DatabaseURL = pgtest.Schema(t)
	}
	s, err := OpenPostgres(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContractPostgres(t *testing.T) {
	pgtest.URL(t)
	runContract(t, func(t *testing.T) Store { return mustOpenPostgres(t, Options{}) })
}
