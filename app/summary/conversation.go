package summary

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/herald-webhooks/herald/sinks"
)

// line is one message, cleaned for summarising.
type line struct {
	text    string
	inbound bool // the contact wrote it; outbound is the business (bot or agent)
	channel string
}

// prepare drops empty messages and puts the rest oldest first. Messages are
// expected oldest first already; they are re-sorted only when every one has
// a time, since the app merges stored messages with the event's own.
func prepare(msgs []sinks.Message) []line {
	sorted := append([]sinks.Message(nil), msgs...)
	timed := true
	for _, m := range sorted {
		if m.At.IsZero() {
			timed = false
			break
		}
	}
	if timed {
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	}
	lines := make([]line, 0, len(sorted))
	for _, m := range sorted {
		text := normalizeSpace(m.Text)
		if text == "" {
			continue
		}
		lines = append(lines, line{text: text, inbound: m.Direction != "outbound", channel: m.Channel})
	}
	return lines
}

// greeting matches an opening salutation, so intent starts at the request.
// Longer greetings come first: the first alternative that fits wins.
var greeting = regexp.MustCompile(`(?i)^(?:(?:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening)|hola|buenos\s+d[ií]as|` +
	`buenas\s+(?:tardes|noches)|buenas|hallo|hoi|goedemorgen|goedemiddag|goedenavond|beste)\b` +
	`(?:\s+(?:there|all|team|everyone|guys|a\s+todos|allemaal)\b)?[\s,!.:;-]*)+`)

// fillers are words that carry no request on their own: a message made only
// of them ("Hi!", "ok thanks") is not where the contact says what they want.
var fillers = map[string]bool{
	"hi": true, "hello": true, "hey": true, "there": true, "good": true, "morning": true, "afternoon": true, "evening": true,
	"ok": true, "okay": true, "thanks": true, "thank": true, "you": true, "yes": true, "no": true, "great": true,
	"perfect": true, "sure": true, "cool": true, "bye": true, "hola": true, "buenas": true, "buenos": true, "días": true,
	"dias": true, "tardes": true, "noches": true, "gracias": true, "vale": true, "sí": true, "si": true, "perfecto": true,
	"hallo": true, "hoi": true, "goedemorgen": true, "goedemiddag": true, "goedenavond": true, "bedankt": true,
	"dank": true, "je": true, "u": true, "wel": true, "ja": true, "nee": true, "prima": true, "top": true, "oké": true,
}

// substantive reports whether a message says something beyond greetings and
// acknowledgements.
func substantive(text string) bool {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	n := 0
	for _, w := range words {
		if !fillers[w] {
			n++
		}
	}
	return n >= 3 || n >= 1 && strings.Contains(text, "?")
}

// maxIntent bounds how much of the contact's opening words is kept before
// the budget is even considered.
const maxIntent = 300

// intentLines picks where the contact says what they want: the first
// substantive inbound message, plus the next one when the first is short.
func intentLines(lines []line) []int {
	var used []int
	size := 0
	for i, l := range lines {
		if !l.inbound || !substantive(l.text) {
			continue
		}
		used = append(used, i)
		size += runeLen(l.text)
		if size >= 80 || len(used) == 2 {
			break
		}
	}
	return used
}

// intentText joins the chosen messages without their opening greetings.
func intentText(lines []line, used []int) string {
	parts := make([]string, 0, len(used))
	for _, i := range used {
		p := strings.TrimSpace(greeting.ReplaceAllString(lines[i].text, ""))
		if p == "" {
			continue
		}
		if n := len(parts); n > 0 {
			if end, _ := utf8.DecodeLastRuneInString(parts[n-1]); !unicode.IsPunct(end) {
				parts[n-1] += "." // keep the messages apart once joined
			}
		}
		parts = append(parts, p)
	}
	return clip(strings.Join(parts, " "), maxIntent)
}

// mention is a kind of sentence worth quoting on a line of its own.
type mention struct {
	label string
	// state matches a sentence that says where things stand ("is
	// confirmed"); topic one that only brings the subject up. The latest
	// state sentence wins, else the latest topic sentence.
	state, topic *regexp.Regexp
	inboundOnly  bool
}

// maxMention bounds a quoted sentence: it is a fact line, not prose.
const maxMention = 150

var mentions = []mention{
	{
		label: "Booking: ",
		state: regexp.MustCompile(`(?i)\b(?:confirmed|booked|reserved|rescheduled|cancell?ed|moved\s+to|` +
			`confirmada|confirmado|reservada|reservado|cancelada|cancelado|anulada|anulado|` +
			`bevestigd|geboekt|gereserveerd|geannuleerd|verzet|verplaatst)\b`),
		topic: regexp.MustCompile(`(?i)\b(?:book|booking|reserve|reservation|appointment|cancel|reschedule|` +
			`reserva|reservar|cita|cancelar|afspraak|reservering|reserveren|boeking|annuleren)\b`),
	},
	{
		label: "Asked for a human: ",
		state: regexp.MustCompile(`(?i)\b(?:real|actual|live)\s+(?:person|human|agent)\b|` +
			`\b(?:speak|talk|chat)\s+(?:to|with)\s+(?:a\s+|an\s+)?(?:someone|somebody|human|person|agent|manager|staff)\b|` +
			`\b(?:persona\s+real|agente\s+humano|hablar\s+con\s+(?:una\s+persona|alguien|un\s+agente|un\s+humano|un\s+responsable))|` +
			`\b(?:echte?\s+(?:persoon|mens|medewerker)|met\s+(?:een\s+)?(?:medewerker|mens|persoon)\s+(?:spreken|praten)|iemand\s+spreken)\b`),
		inboundOnly: true,
	},
}

// find returns the sentence for m, or "" when there is none or its message
// is already quoted (skip).
func (m mention) find(lines []line, skip map[int]bool) string {
	for _, re := range []*regexp.Regexp{m.state, m.topic} {
		if re == nil {
			continue
		}
		for i := len(lines) - 1; i >= 0; i-- {
			if m.inboundOnly && !lines[i].inbound {
				continue
			}
			sentences := splitSentences(lines[i].text)
			for j := len(sentences) - 1; j >= 0; j-- {
				if re.MatchString(sentences[j]) {
					if skip[i] {
						return ""
					}
					return sentences[j]
				}
			}
		}
	}
	return ""
}

// splitSentences cuts at ., ! or ? followed by a space. Abbreviations such
// as "p.m." may split early; the sentence is only used as a quote.
func splitSentences(text string) []string {
	var out []string
	start := 0
	for i := 0; i < len(text); i++ {
		if strings.IndexByte(".!?", text[i]) >= 0 && (i+1 == len(text) || text[i+1] == ' ') {
			if s := strings.TrimSpace(text[start : i+1]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(text[start:]); s != "" {
		out = append(out, s)
	}
	return out
}
