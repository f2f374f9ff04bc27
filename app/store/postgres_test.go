package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// pgTestURL is the PostgreSQL server the tests use: .ci/run starts a
// throwaway one and sets HERALD_TEST_DATABASE_URL. Without it the tests
// skip, except in CI (CI=true), where a missing server is a failure.
func pgTestURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("HERALD_TEST_DATABASE_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("HERALD_TEST_DATABASE_URL is not set: CI must run the PostgreSQL tests (.ci/run starts a server)")
		}
		t.Skip("HERALD_TEST_DATABASE_URL is not set: no PostgreSQL server to test against")
	}
	return u
}

// freshSchemaURL makes an empty schema for one test on the test server and
// returns a URL whose connections use it; it is dropped when the test ends.
func freshSchemaURL(t testing.TB) string {
	t.Helper()
	base := pgTestURL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func mustOpenPostgres(t testing.TB, o Options) *Postgres {
	t.Helper()
	if o.DatabaseURL == "" {
		o.DatabaseURL = freshSchemaURL(t)
	}
	s, err := OpenPostgres(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContractPostgres(t *testing.T) {
	pgTestURL(t)
	runContract(t, func(t *testing.T) Store { return mustOpenPostgres(t, Options{}) })
}
