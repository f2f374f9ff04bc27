package summary

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var fixedNow = time.Date(2026, 3, 9, 12, 0, 0, 0, time.FixedZone("CET", 3600))

// fixture is one conversation in testdata and the facts its summary must keep.
type fixture struct {
	Title   string `json:"title"`
	Contact struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Phone   string `json:"phone"`
		Email   string `json:"email"`
		Channel string `json:"channel"`
	} `json:"contact"`
	Tag      string          `json:"tag"`
	Messages []sinks.Message `json:"messages"`
	Keep     []string        `json:"keep"`
}

func (f fixture) contact() Contact {
	c := f.Contact
	return Contact{ID: c.ID, Name: c.Name, Phone: c.Phone, Email: c.Email, Channel: c.Channel}
}

func loadFixtures(t *testing.T) map[string]fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 12 {
		t.Fatalf("found %d fixtures, want at least 12", len(paths))
	}
	out := make(map[string]fixture, len(paths))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f fixture
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(f.Messages) == 0 || len(f.Keep) == 0 {
			t.Fatalf("%s: a fixture needs messages and facts to keep", p)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = f
	}
	return out
}

func TestBuiltinKeepsTheFactsOfEachFixture(t *testing.T) {
	b := Builtin{Now: func() time.Time { return fixedNow }}
	for name, f := range loadFixtures(t) {
		t.Run(name+": "+f.Title, func(t *testing.T) {
			got := b.Summarize(context.Background(), f.contact(), f.Tag, f.Messages)
			again := b.Summarize(context.Background(), f.contact(), f.Tag, f.Messages)

			if got != again {
				t.Errorf("two runs differ:\n%s\n---\n%s", got.Text, again.Text)
			}
			if n := runeLen(got.Text); n > MaxChars {
				t.Errorf("text is %d runes, want at most %d", n, MaxChars)
			}
			for _, fact := range f.Keep {
				if !strings.Contains(got.Text, fact) {
					t.Errorf("summary lost %q:\n%s", fact, got.Text)
				}
			}
			lines := strings.Split(got.Text, "\n")
			if end := lines[len(lines)-1]; !strings.Contains(end, opening(f.Messages[len(f.Messages)-1].Text)) {
				t.Errorf("last line %q does not quote the last message", end)
			}
			if got.Messages != len(f.Messages) || got.Method != MethodBuiltin || !got.GeneratedAt.Equal(fixedNow) || got.GeneratedAt.Location() != time.UTC {
				t.Errorf("got messages=%d method=%q generated_at=%v, want %d, builtin, %v in UTC",
					got.Messages, got.Method, got.GeneratedAt, len(f.Messages), fixedNow)
			}
			checkGolden(t, filepath.Join("testdata", name+".golden"), got.Text)
		})
	}
}

// opening is the start of a message that a summary quoting it must contain,
// however much of the rest was clipped.
func opening(text string) string {
	words := strings.Fields(text)
	return strings.Join(words[:min(6, len(words))], " ")
}

// checkGolden compares with the stored summary, so a change in wording shows
// up in review; run with -update to accept it.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got+"\n" != string(want) {
		t.Errorf("summary changed (run go test -update if intended):\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestBuiltinWithoutMessagesSaysSo(t *testing.T) {
	b := Builtin{Now: func() time.Time { return fixedNow }}
	for _, msgs := range [][]sinks.Message{nil, {{Text: "  \n"}}} {
		got := b.Summarize(context.Background(), Contact{ID: "c_1", Name: "Ana"}, "vip", msgs)
		want := Summary{
			Text:        `No conversation is stored for Ana, tagged "vip", so there is nothing to summarise.`,
			GeneratedAt: fixedNow.UTC(),
			Method:      MethodBuiltin,
		}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
}

func TestBuiltinZeroValueUsesTheWallClock(t *testing.T) {
	before := time.Now()
	got := Builtin{}.Summarize(context.Background(), Contact{}, "", []sinks.Message{{Text: "hello?"}})
	if got.GeneratedAt.Before(before.Add(-time.Second)) || got.GeneratedAt.Location() != time.UTC {
		t.Errorf("generated_at = %v, want about now in UTC", got.GeneratedAt)
	}
	if want := "Unknown contact. 1 message, all from the contact.\nLast message (contact): \"hello?\""; got.Text != want {
		t.Errorf("text = %q, want %q", got.Text, want)
	}
}

func TestBuiltinStaysWithinTheLimit(t *testing.T) {
	long := strings.Repeat("We need 4 rooms for 3 nights at €120 each, call +31 6 1234 5678 or mail a@example.com on Friday 13 March at 19:30. ", 8)
	tests := []struct {
		name    string
		contact Contact
		tag     string
		msgs    []sinks.Message
	}{
		{"one huge message", Contact{Name: "Ana"}, "x", []sinks.Message{{Text: long}}},
		{"many messages full of facts", Contact{Name: "Ana"}, "x", manyMessages(maxFactMessages+20, func(i int) string {
			return fmt.Sprintf("#A%05d: %d people on 2026-03-%02d, €%d", i, i, i%28+1, i*7)
		})},
		{"a huge name, tag and channel", Contact{Name: strings.Repeat("Name ", 100), Channel: strings.Repeat("c", 300)}, strings.Repeat("t", 300),
			[]sinks.Message{{Text: long}, {Text: long, Direction: "outbound"}}},
		{"a last message that is one unbroken word", Contact{Name: "Ana"}, "x", []sinks.Message{{Text: "Hi, I want to book"}, {Text: strings.Repeat("x", 2000)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Builtin{}.Summarize(context.Background(), tt.contact, tt.tag, tt.msgs)
			if n := runeLen(got.Text); n > MaxChars {
				t.Errorf("text is %d runes:\n%s", n, got.Text)
			}
			lines := strings.Split(got.Text, "\n")
			if !strings.HasPrefix(lines[len(lines)-1], "Last message (") {
				t.Errorf("the text does not end with the last message:\n%s", got.Text)
			}
		})
	}
}

func manyMessages(n int, text func(i int) string) []sinks.Message {
	msgs := make([]sinks.Message, n)
	for i := range msgs {
		msgs[i] = sinks.Message{Text: text(i)}
		if i%2 == 1 {
			msgs[i].Direction = "outbound"
		}
	}
	return msgs
}

func TestBuiltinHeader(t *testing.T) {
	tests := []struct {
		name    string
		contact Contact
		msgs    []sinks.Message
		want    string
	}{
		{"the phone stands in for a missing name",
			Contact{Phone: "+34 612 345 678", Channel: "WhatsApp"}, []sinks.Message{{Text: "hola"}},
			"+34 612 345 678 via WhatsApp. 1 message, all from the contact."},
		{"the channel comes from the contact's messages when the contact has none",
			Contact{Name: "Ana"}, []sinks.Message{{Text: "hi", Channel: "instagram"}, {Text: "hello", Direction: "outbound", Channel: "sms"}},
			"Ana via Instagram. 2 messages: 1 from the contact, 1 from the business."},
		{"an unknown channel is shown as given",
			Contact{ID: "c_9", Channel: "carrier-pigeon"}, []sinks.Message{{Text: "news", Direction: "outbound"}},
			"contact c_9 via carrier-pigeon. 1 message, all from the business."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := header(tt.contact, "", prepare(tt.msgs)); got != tt.want {
				t.Errorf("header = %q, want %q", got, tt.want)
			}
		})
	}
}
