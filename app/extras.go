package app

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herald-webhooks/herald/app/summary"
)

// extras are the parts beyond the core delivery path: summaries, plugins,
// Slack, the UI and the cron jobs.
type extras struct {
	summarizer summary.Summarizer
}

func (a *App) setupExtras() error {
	s := a.cfg.Summary
	a.extras.summarizer = summary.FromConfig(s.URL, s.Model, s.APIKey, s.Timeout.Duration, a.log)
	return nil
}

func (a *App) startExtras(ctx context.Context) error { return nil }

func (a *App) stopExtras() {}

func (a *App) onRecover(webhookID string) {}

func (a *App) uiRoutes(f *fiber.App) {}

func (a *App) metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{}))
}

func (a *App) handlePluginList(c *fiber.Ctx) error   { return c.JSON(newList([]any{}, "")) }
func (a *App) handlePluginReload(c *fiber.Ctx) error { return c.JSON(newList([]any{}, "")) }
func (a *App) handleReconcileRuns(c *fiber.Ctx) error {
	return c.JSON(newList([]any{}, ""))
}
func (a *App) handleReconcileRun(c *fiber.Ctx) error { return c.JSON(fiber.Map{}) }
