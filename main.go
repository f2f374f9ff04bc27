// Command herald is a self-hosted webhook appliance: one binary, one SQLite file.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/herald-webhooks/herald/app"
)

//go:embed schema.sql
var schema string

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	cmd, err := app.ParseCommand(os.Args[1:])
	if err != nil {
		// Nothing is read or created for a wrong command line.
		fmt.Fprintf(os.Stderr, "herald: %v\n\n%s", err, app.Usage)
		os.Exit(2)
	}
	switch cmd.Name {
	case "help":
		fmt.Print(app.Usage)
		return
	case "version":
		fmt.Println("herald", version)
		return
	}
	if err := run(cmd); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

func run(cmd app.Command) error {
	cfg, err := app.LoadConfig(cmd.ConfigPath, os.Getenv)
	if err != nil {
		return err
	}
	if cmd.Name == "backup" && cfg.DatabaseURL != "" {
		return errors.New("herald backup copies the SQLite file; on PostgreSQL, back up with pg_dump (README: More than one machine)")
	}
	if cmd.Name == "backup" {
		n, err := app.BackupDatabase(context.Background(), cfg.DataDir, cmd.BackupFile)
		if err == nil {
			fmt.Printf("Backed up %s to %s (%d bytes)\n", cfg.DataDir, cmd.BackupFile, n)
		}
		return err
	}
	if cmd.Name == "migrate" {
		counts, err := app.MigrateToPostgres(context.Background(), cfg.DataDir, cmd.MigrateTo)
		if err == nil {
			fmt.Printf("Copied %s to PostgreSQL: %d events, %d deliveries, %d attempts, %d webhooks, %d tokens\n", cfg.DataDir,
				counts["events"], counts["deliveries"], counts["attempts"], counts["webhooks"], counts["tokens"])
		}
		return err
	}
	log := app.NewLogger(os.Stderr, cfg.LogLevel)

	// Listen first: if the port is taken, fail before a first start
	// generates (and prints, once) an admin token nobody can then use.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	a, err := app.New(cfg, app.Options{Schema: schema, Logger: log, Version: version})
	if err != nil {
		ln.Close()
		return err
	}
	if err := a.Start(); err != nil {
		_ = a.Shutdown(context.Background())
		return err
	}
	log.Info("Herald is listening", "addr", "http://"+ln.Addr().String(), "data_dir", cfg.DataDir, "version", version)

	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-stop:
		log.Info("Shutting down", "signal", sig.String())
	case err := <-served:
		if err != nil {
			log.Error("Server stopped", "error", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Delivery.Timeout.Duration+10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("Stopped")
	return nil
}
