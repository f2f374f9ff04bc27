package summary

import (
	"reflect"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

func in(text string) line  { return line{text: text, inbound: true} }
func out(text string) line { return line{text: text} }

func TestSubstantive(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"Hi!", false},
		{"ok thanks", false},
		{"Hola, buenas tardes", false},
		{"Goedemiddag!", false},
		{"Price?", true},
		{"I need a table for 4", true},
		{"Quería reservar una mesa", true},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			if got := substantive(tt.text); got != tt.want {
				t.Errorf("substantive(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
}

func TestIntent(t *testing.T) {
	tests := []struct {
		name     string
		lines    []line
		wantUsed []int
		wantText string
	}{
		{"greetings are skipped and stripped",
			[]line{in("Hi"), out("Hello! How can I help?"), in("Hello there, I want to book a table for two tonight at eight please, by the window if you can")},
			[]int{2}, "I want to book a table for two tonight at eight please, by the window if you can"},
		{"a two-word Spanish greeting is stripped whole",
			[]line{in("Buenas tardes, quería reservar una mesa para el sábado por la noche, somos seis personas en total")},
			[]int{0}, "quería reservar una mesa para el sábado por la noche, somos seis personas en total"},
		{"a word that only starts like a greeting is kept",
			[]line{in("Heya, do you still have the blue sofa in stock for delivery this week or next?")},
			[]int{0}, "Heya, do you still have the blue sofa in stock for delivery this week or next?"},
		{"a short first request takes the next inbound message along",
			[]line{in("Prices?"), out("For what?"), in("Haircut and beard"), in("And a third one")},
			[]int{0, 2}, "Prices? Haircut and beard"},
		{"the business's words never count as intent",
			[]line{out("We have a special offer on rooms this weekend only, book now!")},
			nil, ""},
		{"a contact who only greets has no intent",
			[]line{in("hola"), in("gracias")},
			nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used := intentLines(tt.lines)
			if !reflect.DeepEqual(used, tt.wantUsed) {
				t.Fatalf("intentLines = %v, want %v", used, tt.wantUsed)
			}
			if got := intentText(tt.lines, used); got != tt.wantText {
				t.Errorf("intentText = %q, want %q", got, tt.wantText)
			}
		})
	}
}

func TestMentions(t *testing.T) {
	booking, human := mentions[0], mentions[1]
	tests := []struct {
		name  string
		m     mention
		lines []line
		skip  map[int]bool
		want  string
	}{
		{"a confirmation beats a later passing mention of cancelling",
			booking, []line{out("Your table is confirmed. See you Friday."), out("You can cancel up to a day before.")}, nil,
			"Your table is confirmed."},
		{"the latest state wins",
			booking, []line{out("Booked for Tuesday."), out("Done, I rescheduled your appointment to Thursday.")}, nil,
			"Done, I rescheduled your appointment to Thursday."},
		{"a topic is used when no state is stated",
			booking, []line{in("Can I make an appointment next week?")}, nil,
			"Can I make an appointment next week?"},
		{"a sentence already quoted elsewhere is not repeated",
			booking, []line{out("Your reservation is confirmed.")}, map[int]bool{0: true},
			""},
		{"a request for a person is found in Spanish",
			human, []line{in("No entiendo. Quiero hablar con una persona, por favor.")}, nil,
			"Quiero hablar con una persona, por favor."},
		{"only the contact can ask for a human",
			human, []line{out("A real person will call you back.")}, nil,
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.find(tt.lines, tt.skip); got != tt.want {
				t.Errorf("find = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrepare(t *testing.T) {
	t0 := time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		msgs []sinks.Message
		want []line
	}{
		{"timed messages are put oldest first and blank ones dropped",
			[]sinks.Message{
				{Text: "second", Direction: "outbound", At: t0.Add(time.Minute)},
				{Text: "  ", At: t0.Add(2 * time.Minute)},
				{Text: "first\n  line", At: t0},
			},
			[]line{in("first line"), out("second")}},
		{"untimed messages keep their order",
			[]sinks.Message{{Text: "b"}, {Text: "a", At: t0}},
			[]line{in("b"), in("a")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := prepare(tt.msgs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("prepare = %+v, want %+v", got, tt.want)
			}
		})
	}
}
