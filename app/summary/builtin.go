package summary

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// Builtin is the offline, extractive summarizer. It quotes the contact's own
// words and lists the facts it finds, so it never states anything the
// conversation does not. The zero value is ready to use, and it is safe for
// concurrent use.
type Builtin struct {
	Now func() time.Time // defaults to time.Now
}

const (
	// The prose keeps this much room however many facts there are, quotation
	// marks included: a clause of the last message and of the request.
	minLast   = 100
	minIntent = 60

	minMention  = 40 // the least room worth spending on a quoted sentence
	maxPerGroup = 6  // values per kind of fact before the budget trims further
	maxWho      = 60
	maxTag      = 40
)

const (
	labelIntent = "Wants: "
	labelFacts  = "Key facts: "
)

// Summarize implements Summarizer.
func (b Builtin) Summarize(_ context.Context, c Contact, tag string, msgs []sinks.Message) Summary {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	lines := prepare(msgs)
	return Summary{
		Text:        clip(builtinText(c, tag, lines), MaxChars),
		Messages:    len(lines),
		GeneratedAt: now().UTC(),
		Method:      MethodBuiltin,
	}
}

// builtinText lays the summary out as: who and how much, what they want, the
// facts, the latest booking and hand-over sentences, the last message. Facts
// get their room first; the quoted prose shares what is left.
func builtinText(c Contact, tag string, lines []line) string {
	if len(lines) == 0 {
		return fmt.Sprintf("No conversation is stored for %s%s, so there is nothing to summarise.", who(c, nil), tagged(tag))
	}
	last := len(lines) - 1
	used := intentLines(lines)
	if n := len(used); n > 0 && used[n-1] == last {
		used = used[:n-1] // the last message is quoted anyway
	}
	want := intentText(lines, used)
	skip := map[int]bool{last: true}
	for _, i := range used {
		skip[i] = true
	}

	head := header(c, tag, lines)
	lastLabel := "Last message (business): "
	if lines[last].inbound {
		lastLabel = "Last message (contact): "
	}
	lastWant := runeLen(lines[last].text) + 2
	intentWant := runeLen(want)
	if intentWant > 0 {
		intentWant += 2
	}

	// Reserve the prose minimums and the line breaks, then fit the facts.
	// Each mention line pays for its own break below.
	room := MaxChars - runeLen(head) - runeLen(lastLabel) - min(lastWant, minLast) - 3
	if want != "" {
		room -= runeLen(labelIntent) + min(intentWant, minIntent)
	}
	factLine := renderFacts(extractFacts(factTexts(lines, used)), room)
	room -= runeLen(factLine)

	var mentionLines []string
	for _, m := range mentions {
		s := m.find(lines, skip)
		if avail := room - runeLen(m.label) - 1; s != "" && avail >= minMention {
			l := m.label + quote(s, min(maxMention, avail))
			mentionLines = append(mentionLines, l)
			room -= runeLen(l) + 1
		}
	}

	// What is left goes to the prose on top of its minimums: half to the
	// last message, then the intent, then back to the last message.
	lastRoom, intentRoom := min(lastWant, minLast), min(intentWant, minIntent)
	grow := func(have *int, want, by int) {
		by = max(0, min(want-*have, by))
		*have += by
		room -= by
	}
	grow(&lastRoom, lastWant, room/2)
	grow(&intentRoom, intentWant, room)
	grow(&lastRoom, lastWant, room)

	parts := []string{head}
	if want != "" {
		parts = append(parts, labelIntent+quote(want, intentRoom))
	}
	if factLine != "" {
		parts = append(parts, factLine)
	}
	parts = append(parts, mentionLines...)
	parts = append(parts, lastLabel+quote(lines[last].text, lastRoom))
	return strings.Join(parts, "\n")
}

// Bounds on the text searched for facts, so a years-long history costs
// milliseconds, not seconds. The opening request is always searched.
const (
	maxFactMessages = 100 // the most recent ones
	maxFactRunes    = 2000
)

// factTexts is the text searched for facts, oldest first: the intent
// messages and the most recent messages, each clipped.
func factTexts(lines []line, used []int) []string {
	from := max(0, len(lines)-maxFactMessages)
	var texts []string
	for _, i := range used {
		if i < from {
			texts = append(texts, clip(lines[i].text, maxFactRunes))
		}
	}
	for _, l := range lines[from:] {
		texts = append(texts, clip(l.text, maxFactRunes))
	}
	return texts
}

// header says who the contact is, where they write from, the tag and how
// much was said by whom.
func header(c Contact, tag string, lines []line) string {
	in := 0
	for _, l := range lines {
		if l.inbound {
			in++
		}
	}
	out := len(lines) - in
	var count string
	switch {
	case out == 0:
		count = plural(in, "message") + ", all from the contact"
	case in == 0:
		count = plural(out, "message") + ", all from the business"
	default:
		count = fmt.Sprintf("%s: %d from the contact, %d from the business", plural(len(lines), "message"), in, out)
	}
	return fmt.Sprintf("%s%s. %s.", who(c, lines), tagged(tag), count)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func who(c Contact, lines []line) string {
	name := c.Name
	for _, alt := range []string{c.Phone, c.Email} {
		if strings.TrimSpace(name) == "" {
			name = alt
		}
	}
	if strings.TrimSpace(name) == "" && c.ID != "" {
		name = "contact " + c.ID
	}
	if strings.TrimSpace(name) == "" {
		name = "Unknown contact"
	}
	name = clip(normalizeSpace(name), maxWho)
	channel := c.Channel
	for i := len(lines) - 1; channel == "" && i >= 0; i-- {
		if lines[i].inbound {
			channel = lines[i].channel
		}
	}
	if channel == "" {
		return name
	}
	return name + " via " + channelName(channel)
}

func tagged(tag string) string {
	tag = normalizeSpace(tag)
	if tag == "" {
		return ""
	}
	return fmt.Sprintf(", tagged %q", clip(tag, maxTag))
}

// channelNames spells the platform's channel ids the way people write them.
var channelNames = map[string]string{
	"whatsapp":  "WhatsApp",
	"instagram": "Instagram",
	"messenger": "Facebook Messenger",
	"facebook":  "Facebook Messenger",
	"telegram":  "Telegram",
	"sms":       "SMS",
	"email":     "email",
	"webchat":   "web chat",
	"web":       "web chat",
	"widget":    "web chat",
}

func channelName(ch string) string {
	ch = normalizeSpace(ch)
	if n, ok := channelNames[strings.ToLower(ch)]; ok {
		return n
	}
	return clip(ch, maxTag)
}

// renderFacts writes the facts line in at most budget runes. It first lists
// fewer values per kind, then drops the least important kinds.
func renderFacts(f facts, budget int) string {
	if f.empty() {
		return ""
	}
	for per := maxPerGroup; per >= 1; per-- {
		if s := formatFacts(f, per, numGroups); runeLen(s) <= budget {
			return s
		}
	}
	for groups := numGroups - 1; groups >= 1; groups-- {
		if s := formatFacts(f, 1, groups); s != "" && runeLen(s) <= budget {
			return s
		}
	}
	return ""
}

func formatFacts(f facts, per int, groups factGroup) string {
	var parts []string
	for g := range groups {
		vs := f[g]
		if len(vs) == 0 {
			continue
		}
		p := groupLabels[g] + " " + strings.Join(vs[:min(per, len(vs))], ", ")
		if extra := len(vs) - per; extra > 0 {
			p += fmt.Sprintf(" (+%d more)", extra)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return ""
	}
	return labelFacts + strings.Join(parts, "; ") + "."
}
