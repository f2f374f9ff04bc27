package app

import (
	"fmt"
)

// migrations are the schema changes after version 1 (schema.sql), in order.
// Step i moves user_version from i+1 to i+2. Each runs in one transaction.
// Append only: never edit a step that has shipped.
var migrations = []string{}

// schemaVersion is the version this binary writes.
func schemaVersion() int { return 1 + len(migrations) }

func (s *Store) migrate(schema string) error {
	var version int
	if err := s.write.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > schemaVersion() {
		return fmt.Errorf("database schema version %d is newer than this binary understands (%d): upgrade Herald", version, schemaVersion())
	}
	steps := []string{}
	if version == 0 {
		steps = append(steps, schema)
		version = 1
		steps = append(steps, migrations...)
	} else {
		steps = append(steps, migrations[version-1:]...)
	}
	start := schemaVersion() - len(steps)
	for i, step := range steps {
		tx, err := s.write.Begin()
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.Exec(step); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to version %d: %w", start+i+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", start+i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to version %d: %w", start+i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to version %d: %w", start+i+1, err)
		}
	}
	return nil
}
