// Package app is Herald's domain: config, the SQLite store, the event
// catalog, ingest, matching, the delivery loop, the API and cron jobs.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-webhooks/herald/app/store"
	"github.com/herald-webhooks/herald/sinks"
)

// App is a running Herald.
type App struct {
	cfg      Config
	log      *slog.Logger
	version  string
	store    Store
	ids      *store.IDGen
	metrics  *Metrics
	adminEnv string // hash of HERALD_ADMIN_TOKEN, if set
	disp     *Dispatcher
	fiber    *fiber.App
	sinks    map[string]sinks.Sink
	schedule []time.Duration
	policy   sinks.NetPolicy
	extras   extras
	bodies   *bodyBudget // bytes of request bodies being read

	cancel   context.CancelFunc
	stopped  chan struct{}
	alerts   sync.WaitGroup // operator alerts being sent
	shutdown atomic.Bool
}

// Options are the parts main (or a test) passes in besides the config.
type Options struct {
	Schema  string       // schema.sql, embedded by main
	Logger  *slog.Logger // nil: discard
	Version string
	Now     func() time.Time // nil: time.Now
}

// New opens the database and builds the server; Start runs it.
func New(cfg Config, o Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	schedule, _ := ParseRetrySchedule(cfg.Delivery.RetrySchedule) // checked by Validate
	st, err := store.Open(store.Options{Dir: cfg.DataDir, Schema: o.Schema, Sync: cfg.Sync, Log: log, Now: o.Now,
		DatabaseURL: cfg.DatabaseURL, PerWebhook: cfg.Delivery.PerWebhook})
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, version: o.Version, store: st, ids: store.NewIDGen(), schedule: schedule,
		policy: sinks.NetPolicy{AllowHTTP: cfg.AllowHTTP, AllowPrivate: cfg.AllowPrivateNetworks}}
	if a.version == "" {
		a.version = "dev"
	}
	a.warnGuardsOff()
	a.metrics = newMetrics(st)
	registerNodeInfo(a.metrics, st)
	if err := a.bootstrapAdmin(context.Background()); err != nil {
		st.Close()
		return nil, err
	}
	timeout := cfg.Delivery.Timeout.Duration
	a.sinks = map[string]sinks.Sink{
		"webhook": &sinks.Webhook{Client: sinks.NewHTTPClient(a.policy, timeout), UserAgent: "Herald/" + a.version, Policy: a.policy, Now: st.Now},
	}
	if err := a.setupExtras(); err != nil {
		st.Close()
		return nil, err
	}
	a.disp = newDispatcher(&Dispatcher{store: st, sinks: a.sinks, log: log, metrics: a.metrics, schedule: schedule, timeout: timeout, probe: cfg.Delivery.ProbeInterval.Duration,
		workers: cfg.Delivery.Workers, perHook: cfg.Delivery.PerWebhook, prepare: a.prepareRequest, onRecover: a.onRecover,
		onDisabled: a.alertDisabled})
	a.bodies = newBodyBudget(max(DefaultBodyBudget, 4*cfg.BodyLimit))
	a.fiber = fiber.New(fiber.Config{
		Immutable: true, // fasthttp reuses buffers; handlers keep strings
		// Bodies are streamed and read only after the token is checked
		// (readBody, see http_body.go); BodyLimit only bounds what the
		// server buffers before a handler runs.
		StreamRequestBody:     true,
		BodyLimit:             cfg.BodyLimit,
		ReadBufferSize:        MaxHeaderBytes,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(log),
		AppName:               "Herald",
	})
	a.fiber.Server().HeaderReceived = streamEveryBody
	a.fiber.Use(a.guardRequest, a.recoverPanics)
	a.routes(a.fiber)
	return a, nil
}

// recoverPanics turns a handler panic into a logged 500, never a crash.
func (a *App) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Next()
}

// bootstrapAdmin makes sure an admin can log in: HERALD_ADMIN_TOKEN, or a
// generated token that is stored hashed and printed once.
func (a *App) bootstrapAdmin(ctx context.Context) error {
	if a.cfg.AdminToken != "" {
		a.adminEnv = store.HashToken(a.cfg.AdminToken)
		return nil
	}
	has, err := a.store.HasAdminToken(ctx)
	if err != nil || has {
		return err
	}
	value := randomToken("hrld_adm_")
	t := &Token{ID: a.ids.New("tok_", a.store.Now()), Name: "bootstrap admin", Scope: ScopeAdmin, CreatedAt: a.store.NowMS()}
	if err := a.store.CreateToken(ctx, t, value); err != nil {
		return err
	}
	// The one time a token is ever logged: there is no other way to hand it
	// over. At LevelNotice, so that no log level hides it.
	a.log.Log(context.Background(), LevelNotice, "Generated an admin token; it is stored hashed and will not be shown again", "admin_token", value)
	return nil
}

// Start re-queues what was in flight when the last process stopped and
// starts the delivery loop and cron jobs.
func (a *App) Start() error {
	n, err := a.store.RequeueInFlight(context.Background(), 1<<62)
	if err != nil {
		return err
	}
	if n > 0 {
		a.log.Info("Re-queued deliveries that were in flight at the last stop", "count", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.stopped = make(chan struct{})
	go func() {
		defer close(a.stopped)
		a.disp.Run(ctx, a.cfg.Delivery.Timeout.Duration+2*time.Second)
	}()
	return a.startExtras(ctx)
}

// Serve answers HTTP on ln until Shutdown.
func (a *App) Serve(ln net.Listener) error {
	err := a.fiber.Listener(lingerListener{ln})
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting requests, lets attempts in flight finish (or
// releases them), and closes the database. Later calls do nothing.
func (a *App) Shutdown(ctx context.Context) error {
	if !a.shutdown.CompareAndSwap(false, true) {
		return nil
	}
	err := a.fiber.ShutdownWithContext(ctx)
	if a.cancel != nil {
		a.cancel()
		<-a.stopped
	}
	a.stopExtras()
	a.alerts.Wait() // each is bounded by the delivery timeout
	return errors.Join(err, a.store.Close())
}
