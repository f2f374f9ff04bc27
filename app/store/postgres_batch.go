package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// oneTrip runs the queued statements as one implicit transaction in one
// round trip: PostgreSQL commits at the end of the batch, or stores none of
// it if any statement fails. The hot paths (ingest, claims, attempt
// records) use it: on two shared cores a round trip is a pair of context
// switches, and they add up.
//
// read gets the results in order. What it decides cannot roll the batch
// back (the server commits by itself); a refusal must come from SQL, as an
// error raised by a statement. The fault hook runs before the batch is
// sent, and its error fails the op with nothing stored.
func (s *Postgres) oneTrip(ctx context.Context, name string, b *pgx.Batch, read func(br pgx.BatchResults) error) error {
	return s.opError(name, s.oneTripRaw(ctx, s.pool, name, b, read))
}

// oneTripRaw is oneTrip with PostgreSQL's own errors, for callers that act
// on a statement's refusal.
func (s *Postgres) oneTripRaw(ctx context.Context, pool *pgxpool.Pool, name string, b *pgx.Batch, read func(br pgx.BatchResults) error) error {
	if f := s.fault.Load(); f != nil {
		if err := (*f)(name); err != nil {
			return err
		}
	}
	ctx = context.WithoutCancel(ctx) // once sent, the caller must learn the outcome
	var err error
	for range pgRetries {
		br := pool.SendBatch(ctx, b)
		err = read(br)
		err = errors.Join(err, br.Close())
		if !pgRetryable(err) {
			break
		}
	}
	return err
}
