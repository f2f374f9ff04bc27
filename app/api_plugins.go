package app

import (
	"github.com/gofiber/fiber/v2"

	"github.com/herald-webhooks/herald/plugins"
)

// setupPlugins finds and starts the sink plugins in the plugin folder. A
// plugin that fails to start is listed with its error; Herald starts anyway.
func (a *App) setupPlugins() {
	host := plugins.NewHost(plugins.HostOptions{
		Dir:                  a.cfg.PluginDir(),
		Pins:                 a.cfg.Plugins.SHA256,
		CallTimeout:          a.cfg.Delivery.Timeout.Duration,
		Logger:               a.log,
		AllowHTTP:            a.cfg.AllowHTTP,
		AllowPrivateNetworks: a.cfg.AllowPrivateNetworks,
	})
	if err := host.Load(); err != nil {
		a.log.Error("Loading plugins failed", "dir", a.cfg.PluginDir(), "error", err)
	}
	a.extras.plugins = host
	a.sinks["plugin"] = host.Sink()
}

func (a *App) handlePluginList(c *fiber.Ctx) error {
	return c.JSON(newList(a.extras.plugins.List(), ""))
}

// handlePluginReload looks at the plugin folder again: new plugins start,
// changed ones restart, removed ones stop.
func (a *App) handlePluginReload(c *fiber.Ctx) error {
	if err := a.extras.plugins.Load(); err != nil {
		return invalid("", "reading the plugin folder failed: %s", err.Error())
	}
	// Deliveries waiting for a plugin may go now: try them at once.
	if err := a.store.HurryPluginDeliveries(c.UserContext()); err != nil {
		return err
	}
	a.disp.Wake()
	return c.JSON(newList(a.extras.plugins.List(), ""))
}
