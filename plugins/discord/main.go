// Command herald-sink-discord posts each event as a card (an embed) to a
// Discord channel through its incoming webhook (config.webhook_url).
package main

import (
	"cmp"
	"context"
	"strings"

	"github.com/herald-webhooks/herald/plugins/sdk"
)

type discord struct{}

func (discord) Describe() sdk.Info {
	return sdk.Info{Name: "discord", Version: "2.0.0",
		Description: "Posts each event as a card to a Discord channel through an incoming webhook.",
		Fields: []sdk.Field{
			{Name: "webhook_url", Type: sdk.FieldSecret, Required: true,
				Description: "The channel's webhook URL (Server Settings > Integrations > Webhooks); it holds a token"},
			{Name: "username", Type: sdk.FieldString, Description: "Name the cards are posted under (default Herald)"},
		}}
}

func (discord) Validate(cfg sdk.Config) error {
	return sdk.CheckURL("webhook_url", cfg.String("webhook_url"))
}

// data is what the card shows of an event's data; other fields are ignored.
type data struct {
	Contact         struct{ Name, Phone, Email string }
	Reason          string
	Message         struct{ Text string }
	Summary         struct{ Text string }
	ConversationURL string `json:"conversation_url"`
}

func (discord) Deliver(ctx context.Context, env sdk.Envelope, cfg sdk.Config) error {
	var d data
	_ = env.Decode(&d) // data of another shape still gets a card with a title
	title := strings.ReplaceAll(env.Event, "_", " ")
	card := map[string]any{
		"title":       strings.ToUpper(title[:1]) + title[1:],
		"description": cut(d.Reason+d.Message.Text+d.Summary.Text, 4096),
		"color":       0x5865F2,
		"timestamp":   env.Timestamp,
		"footer":      map[string]string{"text": "Herald · " + env.ID},
	}
	if who := strings.TrimSpace(d.Contact.Name + "\n" + d.Contact.Phone + "\n" + d.Contact.Email); who != "" {
		card["fields"] = []map[string]any{{"name": "Contact", "value": cut(who, 1024)}}
	}
	if strings.HasPrefix(d.ConversationURL, "https://") {
		card["url"] = d.ConversationURL
	}
	return sdk.PostJSON(ctx, cfg.String("webhook_url"), map[string]any{
		"username": cmp.Or(cfg.String("username"), "Herald"), "embeds": []any{card},
		"allowed_mentions": map[string]any{"parse": []string{}}, // a contact's "@everyone" pings no one
	})
}

// cut keeps Discord's length limits: it refuses longer texts with a 400.
func cut(s string, n int) string { return string([]rune(s)[:min(n, len([]rune(s)))]) }

func main() { sdk.Serve(discord{}) }
