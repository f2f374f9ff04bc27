package app

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// handleMetrics serves Prometheus metrics: open by default, like most
// exporters, or behind HERALD_METRICS_TOKEN when the operator sets one.
func (a *App) handleMetrics(c *fiber.Ctx) error {
	if want := a.cfg.MetricsToken; want != "" {
		got, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
		// Hashes have one length, so the compare takes the same time for any guess.
		g, w := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(want))
		if !ok || subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
			return errorf(CodeUnauthorized, "", "/metrics needs Authorization: Bearer <HERALD_METRICS_TOKEN>")
		}
	}
	return a.extras.metrics(c)
}
