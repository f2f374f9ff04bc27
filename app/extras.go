package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herald-webhooks/herald/app/summary"
	"github.com/herald-webhooks/herald/plugins"
	"github.com/herald-webhooks/herald/sinks"
	"github.com/herald-webhooks/herald/web"
)

// extras are the parts beyond the core delivery path: summaries, plugins,
// Slack, the UI and the cron jobs.
type extras struct {
	summarizer summary.Summarizer
	ui         *web.UI
	metrics    fiber.Handler
	plugins    *plugins.Host
	reconcile  *reconciler // set by startReconcile
}

func (a *App) setupExtras() error {
	s := a.cfg.Summary
	a.extras.summarizer = summary.FromConfig(s.URL, s.Model, s.APIKey, s.Timeout.Duration, a.log)
	ui, err := web.New()
	if err != nil {
		return fmt.Errorf("load web UI: %w", err)
	}
	a.extras.ui = ui
	a.extras.metrics = adaptor.HTTPHandler(promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{}))
	timeout := a.cfg.Delivery.Timeout.Duration
	a.sinks["slack"] = sinks.NewSlack(sinks.SlackOptions{
		APIURL:    a.cfg.Slack.APIURL,
		BotToken:  a.cfg.Slack.BotToken,
		Client:    sinks.NewHTTPClient(a.policy, timeout),
		APIClient: &http.Client{Timeout: timeout}, // the operator's own Slack API URL is trusted
		Policy:    a.policy,
		Now:       a.store.Now,
		Logger:    a.log.With("sink", "slack"),
	})
	a.setupPlugins()
	return nil
}

func (a *App) startExtras(ctx context.Context) error { return a.startReconcile(ctx) }

func (a *App) stopExtras() {
	a.stopReconcile()
	a.extras.plugins.Close()
}
