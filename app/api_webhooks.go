package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-webhooks/herald/app/store"
	"github.com/herald-webhooks/herald/sinks"
)

// SecretOverlap is how long a rotated-out secret keeps signing.
const SecretOverlap = 24 * time.Hour

// MaxTags is how many tags one webhook may list.
const MaxTags = 100

type webhookJSON struct {
	ID              string              `json:"id"`
	Name            string              `json:"name"`
	URL             string              `json:"url"`
	Sink            string              `json:"sink"`
	Plugin          string              `json:"plugin"`
	Config          map[string]any      `json:"config"`
	Events          []string            `json:"events"`
	Tags            []string            `json:"tags"`
	GenerateSummary bool                `json:"generate_summary"`
	Enabled         bool                `json:"enabled"`
	AutoReplay      bool                `json:"auto_replay"`
	Ordered         bool                `json:"ordered"`
	Headers         map[string]string   `json:"headers"`
	Secret          string              `json:"secret"`
	SecretRotatedAt string              `json:"previous_secret_expires_at,omitempty"`
	CreatedAt       string              `json:"created_at"`
	UpdatedAt       string              `json:"updated_at"`
	DisabledReason  string              `json:"disabled_reason"`
	Warnings        []string            `json:"warnings"`
	Stats           *store.WebhookStats `json:"stats,omitempty"`
}

// webhookInput is the create/update body. Pointers tell "not sent" from zero.
// Read-only fields are accepted and ignored, so a client may send back what it read.
type webhookInput struct {
	Name            *string            `json:"name"`
	URL             *string            `json:"url"`
	Sink            *string            `json:"sink"`
	Plugin          *string            `json:"plugin"`
	Config          *map[string]any    `json:"config"`
	Events          *[]string          `json:"events"`
	Tags            *[]string          `json:"tags"`
	GenerateSummary *bool              `json:"generate_summary"`
	Enabled         *bool              `json:"enabled"`
	AutoReplay      *bool              `json:"auto_replay"`
	Ordered         *bool              `json:"ordered"`
	Headers         *map[string]string `json:"headers"`

	ID              json.RawMessage `json:"id"`
	Secret          json.RawMessage `json:"secret"`
	SecretRotatedAt json.RawMessage `json:"previous_secret_expires_at"`
	CreatedAt       json.RawMessage `json:"created_at"`
	UpdatedAt       json.RawMessage `json:"updated_at"`
	DisabledReason  json.RawMessage `json:"disabled_reason"`
	Warnings        json.RawMessage `json:"warnings"`
	Stats           json.RawMessage `json:"stats"`
}

// toWebhookJSON renders h; all is every webhook (for the duplicate-URL
// warning), loaded once per request by the caller, or nil to load it here.
func (a *App) toWebhookJSON(c *fiber.Ctx, h *Webhook, withStats bool, all ...*Webhook) (webhookJSON, error) {
	out := webhookJSON{ID: h.ID, Name: h.Name, URL: h.URL, Sink: h.Sink, Plugin: h.Plugin, Config: a.maskedConfig(h),
		Events: h.Events, Tags: h.Tags, GenerateSummary: h.GenerateSummary, Enabled: h.Enabled, AutoReplay: h.AutoReplay,
		Ordered: h.Ordered, Headers: h.Headers, Secret: h.Secret, CreatedAt: store.FormatTime(h.CreatedAt), UpdatedAt: store.FormatTime(h.UpdatedAt),
		DisabledReason: h.DisabledReason, Warnings: []string{}}
	if old := h.Secrets(a.store.NowMS()); len(old) > 1 {
		// The latest expiry: until then some rotated-out secret still signs.
		last := int64(0)
		for _, o := range h.PreviousSecrets {
			last = max(last, o.ExpiresAt)
		}
		out.SecretRotatedAt = store.FormatTime(last)
	}
	if h.URL != "" {
		if all == nil {
			var err error
			if all, err = a.store.AllWebhooks(c.UserContext()); err != nil {
				return out, err
			}
		}
		for _, o := range all {
			if o.ID != h.ID && sameURL(o.URL, h.URL) {
				out.Warnings = append(out.Warnings, fmt.Sprintf("webhook %s (%s) uses the same URL: the receiver will get each matching event once per webhook", o.ID, o.Name))
			}
		}
	}
	if withStats {
		st, err := a.store.WebhookStats(c.UserContext(), h.ID, a.store.NowMS())
		if err != nil {
			return out, err
		}
		out.Stats = &st
	}
	return out, nil
}

func sameURL(a, b string) bool {
	return strings.TrimRight(strings.ToLower(strings.TrimSpace(a)), "/") == strings.TrimRight(strings.ToLower(strings.TrimSpace(b)), "/")
}

func (a *App) handleWebhookList(c *fiber.Ctx) error {
	limit, after, err := listParams(c)
	if err != nil {
		return err
	}
	if err := idCursor(after, "wh_"); err != nil {
		return err
	}
	hooks, err := a.store.FindWebhooks(c.UserContext(), after, limit+1)
	if err != nil {
		return err
	}
	all, err := a.store.AllWebhooks(c.UserContext())
	if err != nil {
		return err
	}
	// The extra one fetched only says that a page follows: not rendered.
	out := make([]webhookJSON, min(len(hooks), limit))
	for i, h := range hooks[:len(out)] {
		if out[i], err = a.toWebhookJSON(c, h, true, all...); err != nil {
			return err
		}
	}
	return c.JSON(pageOf(out, hooks, limit, func(h *Webhook) string { return h.ID }))
}

func (a *App) handleWebhookGet(c *fiber.Ctx) error {
	h, err := a.store.FindWebhookByID(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	out, err := a.toWebhookJSON(c, h, true)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

func (a *App) handleWebhookCreate(c *fiber.Ctx) error {
	in, err := webhookInputFrom(c)
	if err != nil {
		return err
	}
	now := a.store.NowMS()
	h := &Webhook{ID: a.ids.New("wh_", a.store.Now()), Sink: "webhook", Enabled: true, AutoReplay: true,
		Config: map[string]any{}, Events: []string{}, Tags: []string{}, Headers: map[string]string{},
		Secret: sinks.NewSecret(), CreatedAt: now, UpdatedAt: now}
	if err := a.applyWebhookInput(h, &in); err != nil {
		return err
	}
	if err := a.store.CreateWebhook(c.UserContext(), h); err != nil {
		return err
	}
	a.disp.Wake()
	out, err := a.toWebhookJSON(c, h, false)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (a *App) handleWebhookUpdate(c *fiber.Ctx) error {
	in, err := webhookInputFrom(c)
	if err != nil {
		return err
	}
	h, err := a.updateWebhook(c.UserContext(), c.Params("id"), func(h *Webhook) error {
		return a.applyWebhookInput(h, &in)
	})
	if err != nil {
		return err
	}
	a.disp.Wake()
	out, err := a.toWebhookJSON(c, h, true)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// updateWebhook reads a webhook, lets change modify it (change may take its
// time: a plugin's Validate runs there, outside any write), and saves it if
// no one changed it meanwhile, else tries again. It returns the saved webhook.
func (a *App) updateWebhook(ctx context.Context, id string, change func(h *Webhook) error) (*Webhook, error) {
	for try := 0; ; try++ {
		h, err := a.store.FindWebhookByID(ctx, id)
		if err != nil {
			return nil, err
		}
		prev := h.UpdatedAt
		if err := change(h); err != nil {
			return nil, err
		}
		h.UpdatedAt = max(a.store.NowMS(), prev+1) // always moves, so the next save can tell
		err = a.store.UpdateWebhook(ctx, h, prev)
		if err == nil {
			return a.store.FindWebhookByID(ctx, id)
		}
		if !store.IsConflict(err) || try == 4 {
			return nil, err
		}
	}
}

// webhookInputFrom decodes a create or update body and checks what the
// decoder would let through: invalid UTF-8 and deep nesting.
func webhookInputFrom(c *fiber.Ctx) (webhookInput, error) {
	return decodeWebhookInput(c.Request().Body())
}

func decodeWebhookInput(body []byte) (webhookInput, error) {
	var in webhookInput
	if err := decodeBody(body, &in); err != nil {
		return in, err
	}
	return in, checkWebhookBody(body)
}

func (a *App) handleWebhookDelete(c *fiber.Ctx) error {
	if err := a.store.DeleteWebhook(c.UserContext(), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *App) handleSecretRotate(c *fiber.Ctx) error {
	h, err := a.updateWebhook(c.UserContext(), c.Params("id"), func(h *Webhook) error {
		h.Rotate(sinks.NewSecret(), a.store.NowMS(), SecretOverlap.Milliseconds())
		return nil
	})
	if err != nil {
		return err
	}
	out, err := a.toWebhookJSON(c, h, false)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

var headerName = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]{1,64}$`)

// reservedHeaders are set by Herald; users may not override them.
func reservedHeader(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "webhook-") || strings.HasPrefix(n, "herald-") ||
		slices.Contains([]string{"content-type", "content-length", "user-agent", "host", "transfer-encoding", "connection"}, n)
}

// applyWebhookInput validates in and applies it to h; the first problem is
// returned as a 422 naming the field.
func (a *App) applyWebhookInput(h *Webhook, in *webhookInput) error {
	if in.Name != nil {
		h.Name = strings.TrimSpace(*in.Name)
	}
	if in.URL != nil {
		h.URL = strings.TrimSpace(*in.URL)
	}
	if in.Sink != nil {
		h.Sink = *in.Sink
	}
	if in.Plugin != nil {
		h.Plugin = strings.TrimSpace(*in.Plugin)
	}
	if in.Config != nil {
		h.Config = a.keepMaskedSecrets(h, h.Config, *in.Config)
		if h.Config == nil {
			h.Config = map[string]any{}
		}
	}
	if in.GenerateSummary != nil {
		h.GenerateSummary = *in.GenerateSummary
	}
	if in.Enabled != nil {
		h.Enabled = *in.Enabled
	}
	if in.AutoReplay != nil {
		h.AutoReplay = *in.AutoReplay
	}
	if in.Ordered != nil {
		h.Ordered = *in.Ordered
	}
	if len([]rune(h.Name)) > 200 {
		return invalid("name", "name is longer than 200 characters")
	}
	if in.Events != nil {
		events, err := cleanEvents(*in.Events)
		if err != nil {
			return err
		}
		h.Events = events
	}
	if in.Tags != nil {
		tags, err := cleanTags(*in.Tags)
		if err != nil {
			return err
		}
		h.Tags = tags
	}
	if len(h.Events) == 0 && len(h.Tags) == 0 {
		return invalid("events", "choose at least one event, or at least one tag")
	}
	if in.Headers != nil {
		h.Headers = map[string]string{}
		if len(*in.Headers) > 20 {
			return invalid("headers", "at most 20 custom headers")
		}
		for k, v := range *in.Headers {
			if !headerName.MatchString(k) {
				return invalid("headers."+k, "%q is not a valid header name", k)
			}
			if reservedHeader(k) {
				return invalid("headers."+k, "%s is set by Herald and cannot be overridden", k)
			}
			if !validHeaderValue(v) || len(v) > 4096 {
				return invalid("headers."+k, "header values must be one line of at most 4096 bytes, without control characters")
			}
			h.Headers[k] = v
		}
	}
	if h.Name == "" {
		h.Name = defaultName(h)
	}
	return a.validateTarget(h)
}

func defaultName(h *Webhook) string {
	if u, err := url.Parse(h.URL); err == nil && u.Host != "" {
		return u.Host
	}
	if h.Plugin != "" {
		return h.Plugin
	}
	return h.Sink
}

// validateTarget asks the sink whether it can deliver to this configuration.
func (a *App) validateTarget(h *Webhook) error {
	sink, ok := a.sinks[h.Sink]
	if !ok {
		names := make([]string, 0, len(a.sinks))
		for n := range a.sinks {
			names = append(names, n)
		}
		slices.Sort(names)
		return invalid("sink", "sink must be one of %s", strings.Join(names, ", "))
	}
	if h.Sink == "webhook" && h.URL == "" {
		return invalid("url", "url is required")
	}
	if h.Sink == "plugin" && h.Plugin == "" {
		return invalid("plugin", "plugin is required for the plugin sink (see GET /api/v1/plugins)")
	}
	v, ok := sink.(sinks.Validator)
	if !ok {
		return nil
	}
	if err := v.Validate(a.target(h)); err != nil {
		var ve *sinks.ValidationError
		if errors.As(err, &ve) {
			return invalid(ve.Field, "%s", ve.Message)
		}
		return invalid("config", "%s", err.Error())
	}
	return nil
}

// target is what a sink sees of a webhook.
func (a *App) target(h *Webhook) sinks.Target {
	return sinks.Target{WebhookID: h.ID, Name: h.Name, URL: h.URL, Plugin: h.Plugin, Config: h.Config,
		Headers: h.Headers, Secrets: h.Secrets(a.store.NowMS())}
}

func cleanEvents(in []string) ([]string, error) {
	out := []string{}
	for i, e := range in {
		e = strings.TrimSpace(e)
		if e != "*" && (catalogByName[e] == nil || e == TestEvent) {
			return nil, invalid(fmt.Sprintf("events[%d]", i), "unknown event %q; see GET /api/v1/event-types", e)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

func cleanTags(in []string) ([]string, error) {
	if len(in) > MaxTags {
		return nil, invalid("tags", "at most %d tags, not %d", MaxTags, len(in))
	}
	out := []string{}
	for i, t := range in {
		t = store.NormalizeTag(t)
		if t == "" {
			return nil, invalid(fmt.Sprintf("tags[%d]", i), "tags must not be empty")
		}
		if len([]rune(t)) > 100 {
			return nil, invalid(fmt.Sprintf("tags[%d]", i), "tags are at most 100 characters")
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}
