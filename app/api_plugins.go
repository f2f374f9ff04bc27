package app

import (
	"slices"

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
	limit, after, err := listParams(c)
	if err != nil {
		return err
	}
	all := a.extras.plugins.List() // sorted by name
	if after != "" && !slices.ContainsFunc(all, func(p plugins.Status) bool { return p.Name == after }) {
		return invalid("after", "after must be the next_cursor of a previous page (the name of an installed plugin)")
	}
	return c.JSON(pageSlice(all, after, limit, func(p plugins.Status) string { return p.Name }))
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
