package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-webhooks/herald/sinks"
)

// Discord's documented limits; a message over them is refused with a 400.
const (
	maxContent     = 2000
	maxTitle       = 256
	maxDescription = 4096
	maxFieldValue  = 1024
)

// Colours of the embed's side bar.
const (
	colorDefault = 0x5865F2 // Discord blurple
	colorUrgent  = 0xE74C3C // a human is needed
	colorGood    = 0x2ECC71 // something was booked or paid
)

// message is the body of Discord's Execute Webhook call.
type message struct {
	Content         string          `json:"content,omitempty"`
	Username        string          `json:"username,omitempty"`
	Embeds          []embed         `json:"embeds"`
	AllowedMentions allowedMentions `json:"allowed_mentions"`
}

// allowedMentions with an empty parse list stops "@everyone" typed by a
// contact from pinging the channel.
type allowedMentions struct {
	Parse []string `json:"parse"`
}

type embed struct {
	Title       string       `json:"title"`
	Description string       `json:"description,omitempty"`
	URL         string       `json:"url,omitempty"`
	Color       int          `json:"color"`
	Fields      []embedField `json:"fields,omitempty"`
	Timestamp   string       `json:"timestamp,omitempty"`
	Footer      *embedFooter `json:"footer,omitempty"`
}

type embedField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type embedFooter struct {
	Text string `json:"text"`
}

// eventTitle names an event for people; unknown events use their own name.
func eventTitle(event string) string {
	switch event {
	case "contact_created":
		return "New contact"
	case "contact_resumed":
		return "Conversation resumed"
	case "contact_paused":
		return "Conversation paused"
	case "contact_do_not_disturb":
		return "Do Not Disturb turned on"
	case "contact_unarchived":
		return "Archived contact wrote again"
	case "human_alerted":
		return "A human is needed"
	case "appointment_booked":
		return "Appointment booked"
	case "new_message":
		return "New message"
	case "message_replied":
		return "Contact replied"
	case "message_read":
		return "Message read"
	case "message_delivered":
		return "Message delivered"
	case "credits_spent":
		return "Credits spent"
	case "credits_recharged":
		return "Credits recharged"
	case "tag_applied":
		return "Tag applied"
	case "test_event":
		return "Test event from Herald"
	}
	return strings.ReplaceAll(event, "_", " ")
}

// render turns an envelope into a Discord message: a title for the event,
// the reason or message text, and fields for who and what.
func render(env sinks.Envelope, username string) message {
	var data map[string]any
	_ = json.Unmarshal(env.Data, &data) // a non-object payload still gets a title

	title := eventTitle(env.Event)
	contact := firstOf(str(data, "contact", "name"), str(data, "contact", "id"))

	e := embed{
		Title:       truncate(title, maxTitle),
		Description: truncate(firstOf(str(data, "reason"), str(data, "message", "text"), str(data, "summary", "text")), maxDescription),
		URL:         webURL(str(data, "conversation_url")),
		Color:       colorDefault,
		Footer:      &embedFooter{Text: "Herald · " + env.ID},
	}
	if t, err := time.Parse(time.RFC3339Nano, env.Timestamp); err == nil {
		e.Timestamp = t.UTC().Format(time.RFC3339Nano)
	}
	switch env.Event {
	case "human_alerted":
		e.Color = colorUrgent
	case "appointment_booked", "credits_recharged":
		e.Color = colorGood
	}

	who := joinLines(contact, str(data, "contact", "phone"), str(data, "contact", "email"))
	e.Fields = appendField(e.Fields, "Contact", who, true)
	e.Fields = appendField(e.Fields, "Channel", firstOf(str(data, "message", "channel"), str(data, "contact", "channel")), true)
	e.Fields = appendField(e.Fields, "Tag", str(data, "tag"), true)
	e.Fields = appendField(e.Fields, "Appointment", str(data, "appointment", "start"), true)
	e.Fields = appendField(e.Fields, "Credits", str(data, "credits", "amount"), true)

	m := message{
		Username:        firstOf(username, "Herald"),
		Embeds:          []embed{e},
		AllowedMentions: allowedMentions{Parse: []string{}},
	}
	// The urgent event also gets plain text, which phones show in the notification.
	if env.Event == "human_alerted" {
		m.Content = truncate(fmt.Sprintf("%s: %s", title, firstOf(contact, "a contact")), maxContent)
	}
	return m
}

// str reads a nested value as text; numbers and booleans are formatted.
func str(data map[string]any, path ...string) string {
	var v any = data
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[key]
	}
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func appendField(fields []embedField, name, value string, inline bool) []embedField {
	if value == "" {
		return fields
	}
	return append(fields, embedField{Name: name, Value: truncate(value, maxFieldValue), Inline: inline})
}

// webURL keeps only absolute http(s) links: Discord rejects a message
// whose embed URL is anything else.
func webURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func joinLines(values ...string) string {
	var lines []string
	for _, v := range values {
		if v != "" {
			lines = append(lines, v)
		}
	}
	return strings.Join(lines, "\n")
}

// truncate cuts s to limit characters, marking the cut with an ellipsis.
func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit-1]) + "…"
}
