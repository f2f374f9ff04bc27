package app

import (
	"bytes"
	"context"
	"crypto/subtle"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/herald-webhooks/herald/app/store"
)

// routes registers every endpoint, top to bottom.
func (a *App) routes(f *fiber.App) {
	f.Get("/healthz", a.handleHealth)
	f.Get("/metrics", a.handleMetrics)
	a.uiRoutes(f)

	f.Get("/api/v1/openapi.json", handleOpenAPI) // before the group: no token needed
	api := f.Group("/api/v1", a.requireToken)
	api.Post("/events", a.requireScope(ScopeIngest), a.handleEventCreate)
	api.Post("/events/batch", a.requireScope(ScopeIngest), a.handleEventBatch)

	admin := api.Group("", a.requireScope(ScopeAdmin))
	admin.Get("/events", a.handleEventList)
	admin.Get("/events/:id", a.handleEventGet)
	admin.Get("/event-types", a.handleEventTypes)

	admin.Get("/webhooks", a.handleWebhookList)
	admin.Post("/webhooks", a.handleWebhookCreate)
	admin.Get("/webhooks/:id", a.handleWebhookGet)
	admin.Patch("/webhooks/:id", a.handleWebhookUpdate)
	admin.Delete("/webhooks/:id", a.handleWebhookDelete)
	admin.Post("/webhooks/:id/test", a.handleWebhookTest)
	admin.Post("/webhooks/:id/secret/rotate", a.handleSecretRotate)
	admin.Get("/webhooks/:id/deliveries", a.handleDeliveryList)
	admin.Post("/webhooks/:id/replay", a.handleReplay)

	admin.Get("/deliveries/:id", a.handleDeliveryGet)
	admin.Post("/deliveries/:id/retry", a.handleDeliveryRetry)

	admin.Get("/tokens", a.handleTokenList)
	admin.Post("/tokens", a.handleTokenCreate)
	admin.Delete("/tokens/:id", a.handleTokenDelete)

	admin.Get("/plugins", a.handlePluginList)
	admin.Post("/plugins/reload", a.handlePluginReload)

	admin.Get("/reconcile/runs", a.handleReconcileRuns)
	admin.Post("/reconcile/run", a.handleReconcileRun)

	admin.Get("/stats", a.handleStats)
	admin.Get("/settings", a.handleSettings)

	api.Use(notRouted)
}

// requireToken authenticates the bearer token and stores its scope.
func (a *App) requireToken(c *fiber.Ctx) error {
	auth := c.Get(fiber.HeaderAuthorization)
	value, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return errorf(CodeUnauthorized, "", "send an API token as Authorization: Bearer <token>")
	}
	scope, err := a.scopeOf(c.UserContext(), strings.TrimSpace(value))
	if err != nil {
		return err
	}
	if scope == "" {
		return errorf(CodeUnauthorized, "", "the API token is not valid")
	}
	c.Locals("scope", scope)
	return c.Next()
}

// scopeOf returns the scope of a token value, or "" for none. The
// HERALD_ADMIN_TOKEN is compared by hash in constant time; stored tokens are
// found by hash.
func (a *App) scopeOf(ctx context.Context, value string) (string, error) {
	if value == "" {
		return "", nil
	}
	if a.adminEnv != "" && subtle.ConstantTimeCompare([]byte(store.HashToken(value)), []byte(a.adminEnv)) == 1 {
		return ScopeAdmin, nil
	}
	t, err := a.store.Authenticate(ctx, value)
	if t == nil || err != nil {
		return "", err
	}
	return t.Scope, nil
}

// requireScope lets admin tokens do everything and other scopes only their own.
func (a *App) requireScope(scope string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		have, _ := c.Locals("scope").(string)
		if have != ScopeAdmin && have != scope {
			return errorf(CodeForbidden, "", "this token's scope (%s) does not allow this; an admin token does", have)
		}
		return a.readBody(c) // only now: bodies are read after the token is checked
	}
}

func (a *App) handleHealth(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := a.store.Health(ctx); err != nil {
		// The store logs what went wrong, once; this answer says it each time.
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "database": err.Error(),
			"engine": store.Engine(a.store), "node": store.NodeID(a.store)})
	}
	return c.JSON(fiber.Map{"status": "ok", "version": a.version, "database": "ok", "engine": store.Engine(a.store), "node": store.NodeID(a.store)})
}

// list is the shape of every list answer.
type list[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor"`
}

func newList[T any](data []T, next string) list[T] {
	if data == nil {
		data = []T{}
	}
	return list[T]{Data: data, NextCursor: next}
}

// limitParam reads ?limit= (default 50, at most 1000).
func limitParam(c *fiber.Ctx) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, invalid("limit", "limit must be a whole number from 1 to 1000")
	}
	return n, nil
}

// bodyJSON decodes the request body strictly.
func bodyJSON(c *fiber.Ctx, v any) error {
	return decodeBody(c.Request().Body(), v) // read by readBody; never c.Body(), which inflates without a limit
}

func decodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(CodeMalformedJSON, "", "the request body must be a JSON object")
	}
	return decodeStrict(body, v)
}
