// Package pgtest gives tests a PostgreSQL schema of their own on the server
// .ci/run starts (HERALD_TEST_DATABASE_URL). Without that variable the tests
// skip, except in CI (CI=true), where a missing server is a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// URL is the test server's URL.
func URL(t testing.TB) string {
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

// Schema makes an empty schema for one test and returns a URL whose
// connections use it; it is dropped when the test ends.
func Schema(t testing.TB) string {
	t.Helper()
	base := URL(t)
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
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
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
