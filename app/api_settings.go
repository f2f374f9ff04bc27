package app

import (
	"github.com/gofiber/fiber/v2"
)

// handleSettings tells the UI what this server allows, so its hints and
// errors match (for example whether plain http is accepted here).
func (a *App) handleSettings(c *fiber.Ctx) error {
	if err := onlyQuery(c); err != nil {
		return err
	}
	schedule := make([]string, len(a.schedule))
	for i, d := range a.schedule {
		schedule[i] = d.String()
	}
	return c.JSON(fiber.Map{
		"version":                a.version,
		"allow_http":             a.cfg.AllowHTTP,
		"allow_private_networks": a.cfg.AllowPrivateNetworks,
		"retry_schedule":         schedule,
		"delivery_timeout_ms":    a.cfg.Delivery.Timeout.Milliseconds(),
		"probe_interval_ms":      a.cfg.Delivery.ProbeInterval.Milliseconds(),
		"reconcile_schedule":     a.cfg.Reconcile.Schedule,
		"source_configured":      a.cfg.Reconcile.SourceURL != "",
		"body_limit":             a.cfg.BodyLimit,
	})
}

// warnGuardsOff says at start that a URL guard is off: fine on a developer's
// machine, a hole on a server that takes webhook URLs from others.
func (a *App) warnGuardsOff() {
	if a.cfg.AllowHTTP {
		a.log.Warn("URL guard is off: plain http:// webhook URLs are allowed (HERALD_ALLOW_HTTP); use this only for development")
	}
	if a.cfg.AllowPrivateNetworks {
		a.log.Warn("URL guard is off: webhooks may reach loopback, private and metadata addresses (HERALD_ALLOW_PRIVATE_NETWORKS); use this only for development")
	}
}
