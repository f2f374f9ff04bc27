package app

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/herald-webhooks/herald/app/store"
)

type tokenJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Scope      string `json:"scope"`
	Token      string `json:"token,omitempty"` // only in the create answer
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at,omitempty"`
}

func (a *App) handleTokenList(c *fiber.Ctx) error {
	limit, after, err := listParams(c)
	if err != nil {
		return err
	}
	if err := idCursor(after, "tok_"); err != nil {
		return err
	}
	ts, err := a.store.FindTokens(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = tokenJSON{ID: t.ID, Name: t.Name, Scope: t.Scope, CreatedAt: store.FormatTime(t.CreatedAt), LastUsedAt: store.FormatTime(t.LastUsedAt)}
	}
	slices.SortFunc(out, func(x, y tokenJSON) int { return strings.Compare(x.ID, y.ID) })
	return c.JSON(pageSlice(out, after, limit, func(t tokenJSON) string { return t.ID }))
}

func (a *App) handleTokenCreate(c *fiber.Ctx) error {
	var in struct {
		Name  string `json:"name"`
		Scope string `json:"scope"`
	}
	if err := bodyJSON(c, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 100 {
		return invalid("name", "name is required (at most 100 characters)")
	}
	if in.Scope != ScopeAdmin && in.Scope != ScopeIngest {
		return invalid("scope", "scope must be admin or ingest")
	}
	t := &Token{ID: a.ids.New("tok_", a.store.Now()), Name: in.Name, Scope: in.Scope, CreatedAt: a.store.NowMS()}
	value := randomToken("hrld_" + in.Scope[:3] + "_")
	if err := a.store.CreateToken(c.UserContext(), t, value); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(tokenJSON{ID: t.ID, Name: t.Name, Scope: t.Scope, Token: value, CreatedAt: store.FormatTime(t.CreatedAt)})
}

func (a *App) handleTokenDelete(c *fiber.Ctx) error {
	if err := a.store.DeleteToken(c.UserContext(), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
