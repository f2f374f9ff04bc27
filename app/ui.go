package app

import (
	"github.com/gofiber/fiber/v2"
)

// contentSecurityPolicy keeps the UI to its own files: no inline script, no
// outside hosts, so injected text cannot run.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// uiRoutes serves the embedded Settings > Webhooks page.
func (a *App) uiRoutes(f *fiber.App) {
	ui := a.extras.ui
	secure := func(c *fiber.Ctx) {
		c.Set("Content-Security-Policy", contentSecurityPolicy)
		c.Set("X-Content-Type-Options", "nosniff")
		c.Set("Referrer-Policy", "no-referrer")
		c.Set("X-Frame-Options", "DENY")
	}
	f.Get("/", func(c *fiber.Ctx) error {
		secure(c)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Type("html", "utf-8")
		return c.Send(ui.Index())
	})
	f.Get("/assets/:name", func(c *fiber.Ctx) error {
		body, ctype, ok := ui.Asset(c.Params("name"))
		if !ok {
			return notFound("asset")
		}
		secure(c)
		// Names carry a content hash: a new build gets new names.
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
		c.Set(fiber.HeaderContentType, ctype)
		return c.Send(body)
	})
}
