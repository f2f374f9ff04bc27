package summary

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestExtractFacts(t *testing.T) {
	tests := []struct {
		name  string
		texts []string
		group factGroup
		want  []string
	}{
		{"ISO and numeric dates keep their year", []string{"Arriving 2026-03-12, leaving 15/03/2026 or 16.03.26"}, groupDates, []string{"2026-03-12", "15/03/2026", "16.03.26"}},
		{"day and month in English read both ways", []string{"Is 12 March ok, or March 14th, 2026? Maybe the 3rd of April"}, groupDates, []string{"12 March", "March 14th, 2026", "3rd of April"}},
		{"a weekday in front of a date stays with it", []string{"Friday 13 March at 7"}, groupDates, []string{"Friday 13 March"}},
		{"a bare weekday beside the same weekday with a date is dropped", []string{"See you Friday", "Confirmed for Friday 13 March"}, groupDates, []string{"Friday 13 March"}},
		{"relative dates in English", []string{"Not today, maybe tomorrow evening or next week"}, groupDates, []string{"today", "tomorrow evening", "next week"}},
		{"Spanish dates", []string{"El sábado 21 de marzo o pasado mañana, si no la próxima semana"}, groupDates, []string{"sábado 21 de marzo", "pasado mañana", "la próxima semana"}},
		{"Dutch dates", []string{"Kan het dinsdag 17 maart, of anders overmorgen of vrijdagavond?"}, groupDates, []string{"dinsdag 17 maart", "overmorgen", "vrijdagavond"}},
		{"a month on its own needs a word that makes it a date", []string{"the accident in January", "may I ask", "in may be late"}, groupDates, []string{"January"}},
		{"24/7 is opening hours, not a date", []string{"We are open 24/7, come on 12/3"}, groupDates, []string{"12/3"}},
		{"the stock greeting's today is not a date", []string{"How can I help you today?", "¿En qué puedo ayudarte hoy?"}, groupDates, nil},
		{"Morgen as a greeting is not tomorrow", []string{"Morgen! Kan ik morgen langskomen?"}, groupDates, []string{"morgen"}},
		{"Spanish morning is a time of day, not tomorrow", []string{"Mañana por la mañana"}, groupDates, []string{"Mañana"}},
		{"clock times in every spelling", []string{"7pm, 7:30 p.m., 19:30, 8 o'clock, noon"}, groupTimes, []string{"7pm", "7:30 p.m.", "19:30", "8 o'clock", "noon"}},
		{"Spanish times keep the part of the day", []string{"a las 9 de la noche o a las 21:30"}, groupTimes, []string{"9 de la noche", "21:30"}},
		{"Dutch dotted times need uur or om", []string{"om 19.30 of 14.30 uur, maar niet 4.50"}, groupTimes, []string{"19.30", "14.30 uur"}},
		{"party sizes and quantities in three languages", []string{"a table for 4, 2 double rooms, 3 nights", "mesa para 6, seis personas", "2 personen, drie nachten"},
			groupQuantities, []string{"table for 4", "2 double rooms", "3 nights", "mesa para 6", "seis personas", "2 personen", "drie nachten"}},
		{"we are four counts as a party size", []string{"we'll be 5, somos 6, we zijn met 7"}, groupQuantities, []string{"we'll be 5", "somos 6", "we zijn met 7"}},
		{"amounts with the currency before or after", []string{"$120, €45, £9.99, 120 EUR, 45 €, 1.200,50 euros, € 59,95 and US$1,250.00"},
			groupAmounts, []string{"$120", "€45", "£9.99", "120 EUR", "45 €", "1.200,50 euros", "€ 59,95", "US$1,250.00"}},
		{"a price per unit keeps its unit", []string{"$49/month or 180 EUR per night, 45 € por persona"}, groupAmounts, []string{"$49/month", "180 EUR per night", "45 € por persona"}},
		{"a number without a currency is not an amount", []string{"I need 120 of them"}, groupAmounts, nil},
		{"emails keep their full address", []string{"Mail jan.de-vries+book@example.co.uk."}, groupEmails, []string{"jan.de-vries+book@example.co.uk"}},
		{"phones in local and international form", []string{"Call +31 6 1234 5678 or (555) 014-2277, or 06-12345678"}, groupPhones, []string{"+31 6 1234 5678", "(555) 014-2277", "06-12345678"}},
		{"short numbers and dates are not phones", []string{"Order 12345, on 2026-03-12, 4 people"}, groupPhones, nil},
		{"order and booking references", []string{"My order #A48213 and invoice INV-2291, bestelling 784512, reserva nº"}, groupReferences, []string{"order #A48213", "invoice INV-2291", "bestelling 784512"}},
		{"digits inside a URL are ignored", []string{"see http://x.example/r/0612345678/2026-03-12"}, groupPhones, nil},
		{"a fact mentioned twice is listed once", []string{"19:30 please", "Confirmed at 19:30"}, groupTimes, []string{"19:30"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := extractFacts(tt.texts)[tt.group]
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s = %q, want %q", groupLabels[tt.group], got, tt.want)
			}
		})
	}
}

func TestFactsInOneMessageComeInReadingOrder(t *testing.T) {
	got := extractFacts([]string{"On 2026-03-12 or tomorrow or Friday 13 March"})[groupDates]
	want := []string{"2026-03-12", "tomorrow", "Friday 13 March"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dates = %q, want %q", got, want)
	}
}

func TestRenderFactsFitsTheBudget(t *testing.T) {
	var f facts
	f[groupDates] = []string{"Monday", "Tuesday", "Wednesday"}
	f[groupAmounts] = []string{"€45"}
	f[groupPhones] = []string{"+31 6 1234 5678"}
	tests := []struct {
		name   string
		budget int
		want   string
	}{
		{"everything fits when there is room", 200, "Key facts: dates Monday, Tuesday, Wednesday; amounts €45; phones +31 6 1234 5678."},
		{"fewer values per kind come first", 80, "Key facts: dates Monday, Tuesday (+1 more); amounts €45; phones +31 6 1234 5678."},
		{"then the least important kinds go", 50, "Key facts: dates Monday (+2 more); amounts €45."},
		{"nothing when not even one fact fits", 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := renderFacts(f, tt.budget)
			if got != tt.want {
				t.Errorf("renderFacts(%d) = %q, want %q", tt.budget, got, tt.want)
			}
			if runeLen(got) > tt.budget {
				t.Errorf("%d runes over a budget of %d", runeLen(got), tt.budget)
			}
		})
	}
}

func TestPatternsAreLowerCase(t *testing.T) {
	// findFacts matches against lower-cased text, so an upper-case letter in
	// a pattern could never match.
	escape := regexp.MustCompile(`\\[A-Za-z]`)
	for i, ex := range extractors {
		if p := escape.ReplaceAllString(ex.re.String(), ""); strings.ToLower(p) != p {
			t.Errorf("extractor %d has an upper-case letter: %s", i, ex.re)
		}
	}
}
