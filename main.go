// Command herald is a self-hosted webhook appliance: one binary, one SQLite file.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/herald-webhooks/herald/app"
)

//go:embed schema.sql
var schema string

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("herald serve", flag.ContinueOnError)
	configPath := fs.String("config", "", "TOML config file (every key can also be set by a HERALD_* environment variable)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println("herald", version)
		return nil
	}
	cfg, err := app.LoadConfig(*configPath, os.Getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(cfg.LogLevel)}))

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

func logLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(s)))
	return l
}
