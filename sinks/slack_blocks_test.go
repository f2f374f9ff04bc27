package sinks

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

const testEventTime = "2026-11-27T08:00:00.123Z"

// slackRequest builds a request for event with data given as JSON.
func slackRequest(event, data string, recent ...Message) *Request {
	req := &Request{
		DeliveryID: "dlv_1",
		Attempt:    1,
		Target:     Target{WebhookID: "wh_1", Name: "Support alerts"},
		Envelope: Envelope{
			ID:        "evt_01JDTEST",
			Event:     event,
			Timestamp: testEventTime,
			Data:      json.RawMessage(data),
		},
	}
	if len(recent) > 0 {
		req.Context = &EventContext{RecentMessages: recent}
	}
	return req
}

func humanAlertedRequest() *Request {
	return slackRequest("human_alerted",
		`{"contact":{"id":"con_123","name":"Maria Lopez","phone":"+15550100","channel":"whatsapp"},
		  "reason":"Wants a refund for order 4411 & asks for a manager",
		  "conversation_url":"https://app.example.com/inbox/con_123"}`,
		Message{Text: "Hi, is anyone there?", Direction: "inbound"},
		Message{Text: "Hello! How can I help?", Direction: "outbound"},
		Message{Text: "My order 4411 arrived broken", Direction: "inbound"},
		Message{Text: "Sorry to hear that. Could you send a photo?", Direction: "outbound"},
		Message{Text: "I want a refund.\nAnd I want to talk to a manager.", Direction: "inbound"},
		Message{Text: "I'm handing you over to a colleague.", Direction: "outbound"},
	)
}

func appointmentBookedRequest() *Request {
	return slackRequest("appointment_booked",
		`{"contact":{"id":"con_456","name":"Sam Park","email":"sam@example.com","channel":"instagram"},
		  "appointment":{"start":"2026-12-01T14:30:00Z","end":"2026-12-01T15:00:00Z",
		    "title":"Intro call","location":"Zoom","notes":"Wants to hear about the <premium> plan"}}`)
}

func TestSlackMessagesMatchGoldenFiles(t *testing.T) {
	cases := []struct {
		name, golden string
		req          *Request
	}{
		{"a human_alerted event renders the alert layout", "slack_human_alerted.golden.json", humanAlertedRequest()},
		{"an appointment_booked event renders the appointment layout", "slack_appointment_booked.golden.json", appointmentBookedRequest()},
		{"any other event renders the compact layout", "slack_new_message.golden.json", slackRequest("new_message",
			`{"contact":{"id":"con_789","name":"Ana"},"message":{"text":"Do you ship to Spain?","channel":"whatsapp"}}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := renderSlackMessage(tc.req)
			checkSlackLimits(t, msg)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false) // readable golden files (blocks with their own MarshalJSON still escape)
			enc.SetIndent("", "  ")
			if err := enc.Encode(msg); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			path := filepath.Join("testdata", tc.golden)
			if *updateGolden {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test ./sinks/ -run Golden -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendered message differs from %s (rerun with -update if the change is intended)\ngot:\n%s", path, got)
			}
		})
	}
}

func TestSlackHumanAlertedContent(t *testing.T) {
	msg := renderSlackMessage(humanAlertedRequest())
	blocks := decodeBlocks(t, msg)
	all := strings.Join(blockTexts(blocks), "\n")

	ts, _ := time.Parse(time.RFC3339Nano, testEventTime)
	checks := []struct{ name, want string }{
		{"names the contact", "Maria Lopez"},
		{"shows the phone", "+15550100"},
		{"shows the channel", "whatsapp"},
		{"gives the reason, escaped", "Wants a refund for order 4411 &amp; asks for a manager"},
		{"quotes the last message with its speaker", "*Bot:* I'm handing you over to a colleague."},
		{"folds a multi-line message onto one line", "*Maria Lopez:* I want a refund. And I want to talk to a manager."},
		{"shows the time as a Slack date token", fmt.Sprintf("<!date^%d^", ts.Unix())},
		{"falls back to UTC in the date token", "|2026-11-27 08:00 UTC>"},
	}
	for _, c := range checks {
		t.Run("it "+c.name, func(t *testing.T) {
			if !strings.Contains(all, c.want) {
				t.Errorf("message lacks %q:\n%s", c.want, all)
			}
		})
	}
	t.Run("it keeps only the last five messages", func(t *testing.T) {
		if strings.Contains(all, "is anyone there") {
			t.Error("the oldest of six messages should be left out")
		}
		if n := strings.Count(all, "\n>*"); n != 5 {
			t.Errorf("quoted %d messages, want 5", n)
		}
	})
	t.Run("it links the conversation with a button", func(t *testing.T) {
		if got := buttonURLs(blocks); len(got) != 1 || got[0] != "https://app.example.com/inbox/con_123" {
			t.Errorf("button URLs = %v", got)
		}
	})
	t.Run("its fallback text says who and why", func(t *testing.T) {
		want := "A human is needed: Maria Lopez (+15550100) on whatsapp. Reason: Wants a refund for order 4411 &amp; asks for a manager"
		if msg.Text != want {
			t.Errorf("text = %q, want %q", msg.Text, want)
		}
	})
}

func TestSlackConversationSource(t *testing.T) {
	cases := []struct {
		name    string
		req     *Request
		want    []string
		notWant []string
	}{
		{
			name: "data.conversation is used when the app sends no context",
			req: slackRequest("human_alerted", `{"contact":{"id":"c1"},"conversation":[
				{"text":"first","direction":"inbound"},{"text":"reply","direction":"outbound"},{"text":"","direction":"inbound"},"junk"]}`),
			want: []string{"*Contact:* first", "*Bot:* reply"},
		},
		{
			name: "stored recent messages win over data.conversation",
			req: slackRequest("human_alerted", `{"contact":{"id":"c1","name":"Lee"},"conversation":[{"text":"from data"}]}`,
				Message{Text: "from the store", Direction: "inbound"}),
			want:    []string{"*Lee:* from the store"},
			notWant: []string{"from data"},
		},
		{
			name:    "no conversation means no messages section",
			req:     slackRequest("human_alerted", `{"contact":{"id":"c1"}}`),
			notWant: []string{"Last messages"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			all := strings.Join(blockTexts(decodeBlocks(t, renderSlackMessage(tc.req))), "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("message lacks %q:\n%s", w, all)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(all, w) {
					t.Errorf("message should not contain %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestSlackAppointmentAndGenericContent(t *testing.T) {
	cases := []struct {
		name     string
		req      *Request
		want     []string
		wantText string
	}{
		{
			name:     "an appointment shows its start as a date token and escapes its notes",
			req:      appointmentBookedRequest(),
			want:     []string{"*Intro call*", "*Starts*\n<!date^1796135400^{date_long_pretty} at {time}|2026-12-01 14:30 UTC>", "*Location*\nZoom", "&lt;premium&gt;", "sam@example.com"},
			wantText: "Appointment booked: Sam Park (sam@example.com), 2026-12-01 14:30 UTC",
		},
		{
			name:     "an appointment start that is not RFC 3339 is shown as written",
			req:      slackRequest("appointment_booked", `{"contact":{"id":"c9"},"appointment":{"start":"tomorrow <3pm>"}}`),
			want:     []string{"*Starts*\ntomorrow &lt;3pm&gt;", "*Contact ID*\nc9"},
			wantText: "Appointment booked: c9, tomorrow &lt;3pm&gt;",
		},
		{
			name:     "credits_spent keeps the amount as sent and titles the event",
			req:      slackRequest("credits_spent", `{"credits":{"amount":12.50,"balance":100}}`),
			want:     []string{"Credits spent", "*Credits*\n12.50", "*Balance*\n100"},
			wantText: "Credits spent",
		},
		{
			name:     "tag_applied shows the tag and the summary",
			req:      slackRequest("tag_applied", `{"contact":{"id":"c2","name":"Bo"},"tag":"qualified-lead","summary":{"text":"Wants a demo","messages":4}}`),
			want:     []string{"Tag applied", "*Tag*\nqualified-lead", "*Summary*\nWants a demo", "*Summary messages*\n4"},
			wantText: "Tag applied: Bo (c2)",
		},
		{
			name:     "other fields are flattened one level deep, skipping arrays and deeper objects",
			req:      slackRequest("test_event", `{"plan":"pro","order":{"id":"o1","items":[1,2],"meta":{"x":1}},"list":[1,2,3],"ok":true}`),
			want:     []string{"Test event", "*Ok*\ntrue", "*Order id*\no1", "*Plan*\npro"},
			wantText: "Test event",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := renderSlackMessage(tc.req)
			checkSlackLimits(t, msg)
			all := strings.Join(blockTexts(decodeBlocks(t, msg)), "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("message lacks %q:\n%s", w, all)
				}
			}
			if strings.Contains(all, "items") || strings.Contains(all, "Meta") || strings.Contains(all, "List") {
				t.Errorf("arrays and nested objects should be skipped:\n%s", all)
			}
			if msg.Text != tc.wantText {
				t.Errorf("text = %q, want %q", msg.Text, tc.wantText)
			}
		})
	}
}

func TestSlackMessagesEscapeUserText(t *testing.T) {
	evil := `<!channel> <script>alert(1)</script> <https://evil.example|click here> & <@U123>`
	data, _ := json.Marshal(map[string]any{
		"contact":          map[string]any{"id": evil, "name": evil, "phone": evil, "channel": evil},
		"reason":           evil,
		"tag":              evil,
		"message":          map[string]any{"text": evil},
		"appointment":      map[string]any{"start": evil, "title": evil, "notes": evil, "location": evil},
		"conversation_url": "javascript:alert(1)",
	})
	for _, event := range []string{"human_alerted", "appointment_booked", "new_message", "tag_applied"} {
		t.Run(event+" leaves no live mention, link or tag from user text", func(t *testing.T) {
			req := slackRequest(event, string(data), Message{Text: evil, Direction: "inbound"})
			msg := renderSlackMessage(req)
			blocks := decodeBlocks(t, msg)
			texts := append(blockTexts(blocks), msg.Text)
			// The only markup Herald itself writes: date tokens and quote marks.
			ownMarkup := regexp.MustCompile(`<!date\^\d+\^[^|>]*\|[^<>]*>|(?m)^>`)
			for _, s := range texts {
				if rest := ownMarkup.ReplaceAllString(s, ""); strings.ContainsAny(rest, "<>") {
					t.Errorf("unescaped markup in %q", s)
				}
			}
			joined := strings.Join(texts, "\n")
			if !strings.Contains(joined, "&lt;!channel&gt;") {
				t.Errorf("the mention should be shown escaped:\n%s", joined)
			}
			if urls := buttonURLs(blocks); len(urls) != 0 {
				t.Errorf("a javascript: URL must not become a button, got %v", urls)
			}
		})
	}
}

func TestSlackButtonAcceptsOnlyWebURLs(t *testing.T) {
	cases := []struct {
		url  string
		want bool
	}{
		{"https://app.example.com/c/1", true},
		{"http://app.example.com/c/1", true},
		{"javascript:alert(1)", false},
		{"slack://open?team=T1", false},
		{"https:///no-host", false},
		{"/relative/path", false},
		{"https://example.com/" + strings.Repeat("a", 3000), false},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%.40s gets a button: %v", tc.url, tc.want)
		t.Run(name, func(t *testing.T) {
			data, _ := json.Marshal(map[string]any{"contact": map[string]any{"id": "c1"}, "conversation_url": tc.url})
			got := buttonURLs(decodeBlocks(t, renderSlackMessage(slackRequest("human_alerted", string(data)))))
			if (len(got) == 1) != tc.want {
				t.Errorf("buttons = %v, want a button: %v", got, tc.want)
			}
		})
	}
}

func TestSlackMessagesStayWithinSlackLimits(t *testing.T) {
	long := strings.Repeat("Lorem & ipsum <dolor> ", 200) // over every limit, longer still once escaped
	fields := map[string]any{"contact": map[string]any{"id": "c1", "name": long, "phone": long, "email": long, "channel": long}}
	for i := range 30 {
		fields[fmt.Sprintf("field_%02d", i)] = long
	}
	fields["reason"] = long
	fields["appointment"] = map[string]any{"start": long, "end": long, "title": long, "notes": long, "location": long}
	data, _ := json.Marshal(fields)
	recent := make([]Message, 40)
	for i := range recent {
		recent[i] = Message{Text: long, Direction: "inbound"}
	}
	for _, event := range []string{"human_alerted", "appointment_booked", "contact_created", strings.Repeat("very_long_event_name_", 20)} {
		t.Run(fmt.Sprintf("%.30s with huge values is cut to fit", event), func(t *testing.T) {
			msg := renderSlackMessage(slackRequest(event, string(data), recent...))
			checkSlackLimits(t, msg)
			if !strings.Contains(strings.Join(blockTexts(decodeBlocks(t, msg)), ""), "…") {
				t.Error("cut text should end in an ellipsis")
			}
		})
	}
}

func TestClipEscapedNeverSplitsAnEntity(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 5, "abcd…"},
		{"ab&cdef", 5, "ab…"},  // "ab&am" would be half of &amp;
		{"abc<def", 7, "abc…"}, // "abc&lt;" fits in 7 but the cut leaves 6
		{"a<bcdefg", 8, "a&lt;bc…"},
		{"ééééé", 3, "éé…"}, // counts characters, not bytes
		{"&&&&", 100, "&amp;&amp;&amp;&amp;"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q cut to %d reads %q", tc.in, tc.n, tc.want), func(t *testing.T) {
			got := clipEscaped(tc.in, tc.n)
			if got != tc.want {
				t.Errorf("clipEscaped(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if utf8.RuneCountInString(got) > tc.n {
				t.Errorf("%q is longer than %d", got, tc.n)
			}
		})
	}
}

// Block Kit as Slack receives it, decoded loosely for assertions.
type textJSON struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type elementJSON struct {
	Type string          `json:"type"`
	Text json.RawMessage `json:"text"` // a string in context blocks, a text object in buttons
	URL  string          `json:"url"`
}

type blockJSON struct {
	Type     string        `json:"type"`
	Text     *textJSON     `json:"text"`
	Fields   []textJSON    `json:"fields"`
	Elements []elementJSON `json:"elements"`
}

func decodeBlocks(t *testing.T, msg slackMessage) []blockJSON {
	t.Helper()
	raw, err := json.Marshal(msg.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	return decodeBlocksJSON(t, raw)
}

func decodeBlocksJSON(t *testing.T, raw []byte) []blockJSON {
	t.Helper()
	var blocks []blockJSON
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatalf("blocks are not valid JSON: %v\n%s", err, raw)
	}
	return blocks
}

// elementText returns a context element's text or a button's label.
func elementText(e elementJSON) string {
	var s string
	if json.Unmarshal(e.Text, &s) == nil {
		return s
	}
	var obj textJSON
	_ = json.Unmarshal(e.Text, &obj)
	return obj.Text
}

func blockTexts(blocks []blockJSON) []string {
	var out []string
	for _, b := range blocks {
		if b.Text != nil {
			out = append(out, b.Text.Text)
		}
		for _, f := range b.Fields {
			out = append(out, f.Text)
		}
		for _, e := range b.Elements {
			out = append(out, elementText(e))
		}
	}
	return out
}

func buttonURLs(blocks []blockJSON) []string {
	var out []string
	for _, b := range blocks {
		for _, e := range b.Elements {
			if e.Type == "button" {
				out = append(out, e.URL)
			}
		}
	}
	return out
}

// checkSlackLimits fails the test if Slack would reject the message.
func checkSlackLimits(t *testing.T, msg slackMessage) {
	t.Helper()
	blocks := decodeBlocks(t, msg)
	runes := utf8.RuneCountInString
	if len(blocks) == 0 || len(blocks) > slackMaxBlocks {
		t.Errorf("%d blocks, want 1..%d", len(blocks), slackMaxBlocks)
	}
	if msg.Text == "" || runes(msg.Text) > slackMaxFallback {
		t.Errorf("fallback text has %d characters", runes(msg.Text))
	}
	for i, b := range blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || runes(b.Text.Text) > slackMaxHeaderText {
				t.Errorf("block %d: bad header %+v", i, b.Text)
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("block %d: empty section", i)
			}
			if b.Text != nil && (b.Text.Text == "" || runes(b.Text.Text) > slackMaxSectionText) {
				t.Errorf("block %d: section text has %d characters", i, runes(b.Text.Text))
			}
			if len(b.Fields) > slackMaxFields {
				t.Errorf("block %d: %d fields", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if f.Text == "" || runes(f.Text) > slackMaxFieldText {
					t.Errorf("block %d: field has %d characters", i, runes(f.Text))
				}
			}
		case "actions", "context":
			for _, e := range b.Elements {
				if e.Type == "button" && runes(elementText(e)) > slackMaxButtonText {
					t.Errorf("block %d: button text too long", i)
				}
				if runes(elementText(e)) > slackMaxSectionText {
					t.Errorf("block %d: element text too long", i)
				}
			}
		default:
			t.Errorf("block %d: unexpected type %q", i, b.Type)
		}
	}
}
