package sinks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"
)

// Block Kit limits: Slack rejects a whole message that breaks one of them.
const (
	slackMaxBlocks      = 50
	slackMaxSectionText = 3000
	slackMaxHeaderText  = 150
	slackMaxButtonText  = 75
	slackMaxFields      = 10
	slackMaxFieldText   = 2000
	slackMaxButtonURL   = 3000
)

// Our own budgets, so one long value cannot crowd out the rest.
const (
	slackMaxFallback    = 3000 // notification text; Slack itself truncates at 40,000
	slackRecentMessages = 5    // enough to see why the bot gave up
	slackMaxMessageText = 300  // per quoted message: five of them fit one section
	slackMaxValueText   = 300  // per field in the generic message
	slackMaxNameText    = 80
)

// slackMessage is what Slack receives: Block Kit blocks and the plain-text
// fallback used in notifications and by clients that cannot show blocks.
type slackMessage struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks"`
}

// renderSlackMessage builds the message for one event. Every piece of user
// text is escaped, so a contact cannot ping @channel or forge a link.
func renderSlackMessage(req *Request) slackMessage {
	ev := newSlackEvent(req)
	var m slackMessage
	switch req.Envelope.Event {
	case "human_alerted":
		m = ev.humanAlerted()
	case "appointment_booked":
		m = ev.appointmentBooked()
	default:
		m = ev.generic()
	}
	if len(m.Blocks) > slackMaxBlocks {
		m.Blocks = m.Blocks[:slackMaxBlocks]
	}
	m.Text = clipMrkdwn(m.Text, slackMaxFallback)
	return m
}

// slackEvent is an envelope with its data decoded, plus the conversation.
type slackEvent struct {
	env    Envelope
	data   map[string]any
	recent []Message
}

func newSlackEvent(req *Request) *slackEvent {
	ev := &slackEvent{env: req.Envelope}
	dec := json.NewDecoder(bytes.NewReader(req.Envelope.Data))
	dec.UseNumber()          // keep 12.50 and large ids as the sender wrote them
	_ = dec.Decode(&ev.data) // data the app accepted is an object; anything else renders as an empty one
	if req.Context != nil && len(req.Context.RecentMessages) > 0 {
		ev.recent = req.Context.RecentMessages
	} else {
		ev.recent = ev.conversationFromData()
	}
	if n := len(ev.recent); n > slackRecentMessages {
		ev.recent = ev.recent[n-slackRecentMessages:]
	}
	return ev
}

func (e *slackEvent) humanAlerted() slackMessage {
	who := e.contactLabel()
	if who == "" {
		who = "an unknown contact"
	}
	blocks := []slack.Block{header("A human is needed")}
	fields := e.contactFields()
	if ch := e.channel(); ch != "" {
		fields = append(fields, field("Channel", ch))
	}
	if e.env.Timestamp != "" {
		fields = append(fields, fieldMrkdwn("When", slackDate(e.env.Timestamp, "{date_short_pretty} at {time}")))
	}
	if len(fields) > 0 {
		blocks = append(blocks, fieldsSection(fields))
	}

	reason := e.str("reason")
	if reason != "" {
		blocks = append(blocks, textSection("*Why the bot asked for help*\n"+clipEscaped(reason, slackMaxSectionText-40)))
	}
	if len(e.recent) > 0 {
		blocks = append(blocks, textSection(e.recentMessages()))
	}
	if b := button("Open conversation", e.str("conversation_url")); b != nil {
		blocks = append(blocks, b)
	}
	blocks = append(blocks, e.footer(false))

	text := "A human is needed: " + escapeMrkdwn(who)
	if ch := e.channel(); ch != "" {
		text += " on " + escapeMrkdwn(ch)
	}
	if reason != "" {
		text += ". Reason: " + escapeMrkdwn(oneLine(reason))
	}
	return slackMessage{Text: text, Blocks: blocks}
}

func (e *slackEvent) appointmentBooked() slackMessage {
	blocks := []slack.Block{header("Appointment booked")}
	if title := e.str("appointment.title"); title != "" {
		blocks = append(blocks, textSection("*"+clipEscaped(oneLine(title), slackMaxNameText)+"*"))
	}
	fields := e.contactFields()
	start := e.str("appointment.start")
	if start != "" {
		fields = append(fields, fieldMrkdwn("Starts", slackDate(start, "{date_long_pretty} at {time}")))
	}
	if end := e.str("appointment.end"); end != "" {
		fields = append(fields, fieldMrkdwn("Ends", slackDate(end, "{date_long_pretty} at {time}")))
	}
	if loc := e.str("appointment.location"); loc != "" {
		fields = append(fields, field("Location", loc))
	}
	if ch := e.channel(); ch != "" {
		fields = append(fields, field("Channel", ch))
	}
	if len(fields) > 0 {
		blocks = append(blocks, fieldsSection(fields))
	}
	if notes := e.str("appointment.notes"); notes != "" {
		blocks = append(blocks, textSection("*Notes*\n"+clipEscaped(notes, slackMaxSectionText-20)))
	}
	if b := button("Open conversation", e.str("conversation_url")); b != nil {
		blocks = append(blocks, b)
	}
	blocks = append(blocks, e.footer(true))

	text := "Appointment booked"
	if who := e.contactLabel(); who != "" {
		text += ": " + escapeMrkdwn(who)
	}
	if start != "" {
		text += ", " + plainDate(start)
	}
	return slackMessage{Text: text, Blocks: blocks}
}

// keyField is a data path shown first in the generic message, under a friendlier label.
type keyField struct{ path, label string }

func slackKeyFields() []keyField {
	return []keyField{
		{"message.text", "Message"},
		{"message.channel", "Channel"},
		{"message.direction", "Direction"},
		{"tag", "Tag"},
		{"credits.amount", "Credits"},
		{"credits.balance", "Balance"},
		{"summary.text", "Summary"},
	}
}

func (e *slackEvent) generic() slackMessage {
	title := eventTitle(e.env.Event)
	blocks := []slack.Block{header(title)}
	fields := e.contactFields()
	for _, kv := range e.flatten() {
		if len(fields) == slackMaxFields {
			break
		}
		fields = append(fields, field(kv.label, clip(kv.value, slackMaxValueText)))
	}
	if len(fields) > 0 {
		blocks = append(blocks, fieldsSection(fields))
	}
	if b := button("Open conversation", e.str("conversation_url")); b != nil {
		blocks = append(blocks, b)
	}
	blocks = append(blocks, e.footer(true))

	text := title
	if who := e.contactLabel(); who != "" {
		text += ": " + escapeMrkdwn(who)
	}
	return slackMessage{Text: text, Blocks: blocks}
}

// labeledValue is a field's label and its value.
type labeledValue struct{ label, value string }

// flatten lists the data's scalar values one level deep, key fields first,
// then the rest by name. Arrays, deeper objects and the contact (shown on
// its own) are left out: a Slack message is a glance, not a dump.
func (e *slackEvent) flatten() []labeledValue {
	var out []labeledValue
	seen := map[string]bool{"conversation_url": true} // shown as a button
	for _, k := range slackKeyFields() {
		if v := e.str(k.path); v != "" {
			out = append(out, labeledValue{k.label, v})
		}
		seen[k.path] = true
	}
	var rest []labeledValue
	for k, v := range e.data {
		if k == "contact" {
			continue
		}
		if obj, ok := v.(map[string]any); ok {
			for sub, sv := range obj {
				if s, ok := scalar(sv); ok && s != "" && !seen[k+"."+sub] {
					rest = append(rest, labeledValue{k + "." + sub, s})
				}
			}
			continue
		}
		if s, ok := scalar(v); ok && s != "" && !seen[k] {
			rest = append(rest, labeledValue{k, s})
		}
	}
	slices.SortFunc(rest, func(a, b labeledValue) int { return strings.Compare(a.label, b.label) })
	for _, kv := range rest {
		out = append(out, labeledValue{humanize(kv.label), kv.value})
	}
	return out
}

// recentMessages renders the last messages as a quote, each with who said it.
func (e *slackEvent) recentMessages() string {
	name := clipEscaped(oneLine(e.str("contact.name")), slackMaxNameText)
	if name == "" {
		name = "Contact"
	}
	var b strings.Builder
	b.WriteString("*Last messages*")
	for _, m := range e.recent {
		who := name
		if m.Direction == "outbound" {
			who = "Bot"
		}
		fmt.Fprintf(&b, "\n>*%s:* %s", who, clipEscaped(oneLine(m.Text), slackMaxMessageText))
	}
	return b.String() // textSection clips it
}

// conversationFromData reads data.conversation, an optional array of
// {text, direction} the platform may send with the event.
func (e *slackEvent) conversationFromData() []Message {
	items, _ := e.data["conversation"].([]any)
	var out []Message
	for _, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			continue
		}
		text, _ := scalar(obj["text"])
		if text == "" {
			continue
		}
		dir, _ := obj["direction"].(string)
		out = append(out, Message{Text: text, Direction: dir})
	}
	return out
}

func (e *slackEvent) contactFields() []*slack.TextBlockObject {
	var f []*slack.TextBlockObject
	name, phone, email := e.str("contact.name"), e.str("contact.phone"), e.str("contact.email")
	if name != "" {
		f = append(f, field("Contact", name))
	}
	if phone != "" {
		f = append(f, field("Phone", phone))
	}
	if email != "" {
		f = append(f, field("Email", email))
	}
	if id := e.str("contact.id"); id != "" && phone == "" && email == "" {
		f = append(f, field("Contact ID", id))
	}
	return f
}

// contactLabel is the best short name for the contact, or "" if the event has none.
func (e *slackEvent) contactLabel() string {
	name := e.str("contact.name")
	handle := e.str("contact.phone")
	if handle == "" {
		handle = e.str("contact.email")
	}
	if handle == "" {
		handle = e.str("contact.id")
	}
	switch {
	case name != "" && handle != "":
		return clip(oneLine(name), slackMaxNameText) + " (" + clip(handle, slackMaxNameText) + ")"
	case name != "":
		return clip(oneLine(name), slackMaxNameText)
	case handle != "":
		return clip(handle, slackMaxNameText)
	}
	return ""
}

func (e *slackEvent) channel() string {
	if ch := e.str("contact.channel"); ch != "" {
		return ch
	}
	return e.str("message.channel")
}

// footer names the event, and when it happened unless the message already says.
func (e *slackEvent) footer(withTime bool) slack.Block {
	text := "Sent by Herald · `" + clipEscaped(e.env.ID, 100) + "`"
	if withTime && e.env.Timestamp != "" {
		text += " · " + slackDate(e.env.Timestamp, "{date_short_pretty} at {time}")
	}
	return slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, text, false, false))
}

// str reads a dotted path like "contact.name" from the data as text.
func (e *slackEvent) str(path string) string {
	var v any = e.data
	for key := range strings.SplitSeq(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = obj[key]
	}
	s, _ := scalar(v)
	return strings.TrimSpace(s)
}

// scalar formats strings, numbers and booleans; objects and arrays are not scalars.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

func header(text string) slack.Block {
	return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, clip(text, slackMaxHeaderText), true, false))
}

func textSection(mrkdwn string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, clipMrkdwn(mrkdwn, slackMaxSectionText), false, false), nil, nil)
}

func fieldsSection(fields []*slack.TextBlockObject) slack.Block {
	if len(fields) > slackMaxFields {
		fields = fields[:slackMaxFields]
	}
	return slack.NewSectionBlock(nil, fields, nil)
}

// field is a bold label over an escaped user value.
func field(label, value string) *slack.TextBlockObject {
	return fieldMrkdwn(label, clipEscaped(value, slackMaxFieldText-len(label)-3))
}

// fieldMrkdwn is a bold label over a value that is already mrkdwn.
func fieldMrkdwn(label, mrkdwn string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, "*"+label+"*\n"+mrkdwn, false, false)
}

// button links to raw when it is an http(s) URL; anything else (javascript:,
// slack:// deep links an attacker chose) gets no button.
func button(text, raw string) slack.Block {
	u, err := url.Parse(raw)
	if raw == "" || len(raw) > slackMaxButtonURL || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil
	}
	b := slack.NewButtonBlockElement("open_conversation", "", slack.NewTextBlockObject(slack.PlainTextType, clip(text, slackMaxButtonText), true, false)).
		WithURL(raw).WithStyle(slack.StylePrimary)
	return slack.NewActionBlock("", b)
}

// slackDate shows an RFC 3339 time in each reader's own time zone, with UTC
// as the fallback for clients that cannot. Unparseable text is shown as is.
func slackDate(raw, format string) string {
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return clipEscaped(raw, 100)
	}
	return fmt.Sprintf("<!date^%d^%s|%s>", t.Unix(), format, t.UTC().Format("2006-01-02 15:04 UTC"))
}

// plainDate is slackDate for the fallback text, which shows no date tokens.
func plainDate(raw string) string {
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return clipEscaped(raw, 100)
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// eventTitle turns "appointment_booked" into "Appointment booked".
func eventTitle(event string) string {
	if event == "" {
		return "Event"
	}
	return humanize(event)
}

func humanize(key string) string {
	s := strings.NewReplacer("_", " ", ".", " ").Replace(key)
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}

// escapeMrkdwn makes user text inert in mrkdwn: no mentions (<!channel>),
// no links, no entities.
func escapeMrkdwn(s string) string { return slackutilsx.EscapeMessage(s) }

// clipEscaped escapes s, then shortens it to n characters.
func clipEscaped(s string, n int) string { return clipMrkdwn(escapeMrkdwn(s), n) }

// clipMrkdwn shortens escaped text to n characters, ending in "…" when cut,
// without leaving half an entity such as "&am" at the end.
func clipMrkdwn(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-1]
	// Only the last '&' can have been cut short, and only if it is within
	// the four characters an entity (&amp;) spans before its ';'.
	if at := lastIndexRune(r, '&'); at >= 0 && at >= len(r)-4 && !slices.Contains(r[at:], ';') {
		r = r[:at]
	}
	return string(r) + "…"
}

func lastIndexRune(r []rune, c rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if r[i] == c {
			return i
		}
	}
	return -1
}

// clip shortens s to at most n characters, ending in "…" when cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// oneLine folds newlines and runs of spaces, for quoting inside one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
