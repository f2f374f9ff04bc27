package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/herald-webhooks/herald/app/store"
)

// Usage is what `herald help` prints.
const Usage = `Herald: a self-hosted webhook appliance in one binary.

Usage:
  herald [serve] [--config FILE]          run the server (the default)
  herald backup [--config FILE] FILE      copy the live database to FILE, consistently,
                                          while Herald runs
  herald migrate [--config FILE] --to postgres://…
                                          copy the SQLite database into an empty
                                          PostgreSQL database (stop Herald first)
  herald version                          print the version
  herald help                             print this help (also -h, --help)

Every setting can come from the TOML file given with --config or from a
HERALD_* environment variable (HERALD_LISTEN, HERALD_DATA_DIR, ...); see
config.example.toml. To restore a backup, stop Herald, copy the file to
<data dir>/herald.db, remove herald.db-wal and herald.db-shm, and start it.
`

// Command is what the command line asks for.
type Command struct {
	Name       string // "serve", "backup", "version" or "help"
	ConfigPath string
	BackupFile string // for backup
	MigrateTo  string // for migrate: the PostgreSQL URL
}

// ParseCommand reads the arguments after the program name. An error means
// the command line is wrong: print Usage on stderr and exit 2, touching
// nothing.
func ParseCommand(args []string) (Command, error) {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	switch name {
	case "help":
		if len(args) > 0 {
			return Command{}, fmt.Errorf("help takes no arguments, got %q", args[0])
		}
		return Command{Name: "help"}, nil
	case "version":
		if len(args) > 0 {
			return Command{}, fmt.Errorf("version takes no arguments, got %q", args[0])
		}
		return Command{Name: "version"}, nil
	case "serve", "backup", "migrate":
	default:
		return Command{}, fmt.Errorf("unknown command %q", name)
	}
	fs := flag.NewFlagSet("herald "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // main prints Usage instead of the flag package's text
	cmd := Command{Name: name}
	fs.StringVar(&cmd.ConfigPath, "config", "", "TOML config file")
	showVersion := false
	if name == "serve" {
		fs.BoolVar(&showVersion, "version", false, "print the version")
	}
	if name == "migrate" {
		fs.StringVar(&cmd.MigrateTo, "to", "", "PostgreSQL URL")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Command{Name: "help"}, nil
		}
		return Command{}, err
	}
	if showVersion {
		return Command{Name: "version"}, nil
	}
	rest := fs.Args()
	switch {
	case name == "serve" && len(rest) > 0:
		return Command{}, fmt.Errorf("unexpected argument %q", rest[0])
	case name == "backup" && len(rest) != 1:
		return Command{}, errors.New("backup needs exactly one FILE to write the copy to")
	case name == "backup":
		cmd.BackupFile = rest[0]
	case name == "migrate" && len(rest) > 0:
		return Command{}, fmt.Errorf("unexpected argument %q", rest[0])
	case name == "migrate" && !strings.HasPrefix(cmd.MigrateTo, "postgres://") && !strings.HasPrefix(cmd.MigrateTo, "postgresql://"):
		return Command{}, errors.New("migrate needs --to postgres://… (the PostgreSQL database to copy into)")
	}
	return cmd, nil
}

// BackupDatabase writes a consistent copy of the database in dataDir to
// dest, while a server may be running on it (see store.Backup).
func BackupDatabase(ctx context.Context, dataDir, dest string) (int64, error) {
	return store.Backup(ctx, dataDir, dest)
}

// MigrateToPostgres copies the SQLite database in dataDir into the empty
// PostgreSQL database at url (see store.CopySQLiteToPostgres).
func MigrateToPostgres(ctx context.Context, dataDir, url string) (store.CopyCounts, error) {
	return store.CopySQLiteToPostgres(ctx, dataDir, url)
}
