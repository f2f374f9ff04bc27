package summary

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// factGroup is a kind of fact. The order is the order in the summary and the
// order of importance: when space runs out, the last groups go first.
type factGroup int

const (
	groupDates factGroup = iota
	groupTimes
	groupQuantities
	groupAmounts
	groupReferences
	groupEmails
	groupPhones
	numGroups

	groupMaskOnly factGroup = -1 // matched only so later extractors skip it (URLs)
)

var groupLabels = [numGroups]string{
	groupDates:      "dates",
	groupTimes:      "times",
	groupQuantities: "quantities",
	groupAmounts:    "amounts",
	groupReferences: "references",
	groupEmails:     "emails",
	groupPhones:     "phones",
}

// facts holds what was found, per group, each in order of first mention.
type facts [numGroups][]string

func (f facts) empty() bool {
	for _, vs := range f {
		if len(vs) > 0 {
			return false
		}
	}
	return true
}

// extractor finds one shape of fact. When the pattern has a capture group,
// the first group is the value (the rest is context such as "a las").
type extractor struct {
	group factGroup
	re    *regexp.Regexp
	keep  func(s string, start, end int) bool // optional extra check
}

// Word lists for English, Spanish and Dutch, the languages the fixtures use.
const (
	monthNames = `january|february|march|april|may|june|july|august|september|october|november|december|` +
		`jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec|` +
		`enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|` +
		`januari|februari|maart|mei|juni|juli|augustus|oktober|mrt`
	fullMonths = `january|february|march|april|may|june|july|august|september|october|november|december|` +
		`enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|` +
		`januari|februari|maart|mei|juni|juli|augustus|oktober`
	englishMonths = `january|february|march|april|may|june|july|august|september|october|november|december|` +
		`jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec`
	weekdays = `monday|tuesday|wednesday|thursday|friday|saturday|sunday|` +
		`lunes|martes|miércoles|miercoles|jueves|viernes|sábado|sabado|domingo|` +
		`maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag`
	ordinal     = `(?:st|nd|rd|th|e)?`
	numberWords = `\d+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|` +
		`dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|` +
		`twee|drie|vier|vijf|zes|zeven|acht|negen|tien`
	units = `people|persons?|guests?|adults?|children|child|kids?|pax|rooms?|nights?|tickets?|seats?|tables?|beds?|` +
		`items?|units?|pieces?|pcs|boxes|box|bottles?|bags?|pairs?|packs?|hours?|minutes?|mins?|days?|weeks?|months?|years?|` +
		`users?|licen[cs]es?|copies|copy|kg|kilos?|lit(?:er|re)s?|sessions?|lessons?|classes|class|pizzas?|orders?|` +
		`personas?|adultos?|niños?|niñas?|comensales|habitaciones|habitación|habitacion|noches?|entradas?|mesas?|` +
		`unidades|unidad|cajas?|botellas?|días|dias|día|semanas?|meses|horas?|minutos?|usuarios?|plazas?|` +
		`personen|persoon|gasten|gast|volwassenen|kinderen|kamers?|nachten|nacht|kaartjes?|stuks?|dozen|doos|` +
		`flessen|fles|dagen|weken|maanden|uren|minuten|gebruikers?|tafels?`
	quantityAdjectives = `double|single|twin|extra|large|small|more|adult|dobles?|individuales?|grandes?|más|mas|` +
		`tweepersoons|eenpersoons|grote|kleine`
	number     = `\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?(?:,-)?`
	perUnit    = `(?:\s*/\s*|\s+(?:per|a|an|por|al|each)\s+)(?:month|mo|night|person|head|hour|hr|day|week|year|user|seat|mes|noche|persona|hora|día|dia|semana|año|usuario|maand|nacht|persoon|uur|dag|jaar|gebruiker)\b`
	currencies = `(?:eur|usd|gbp|mxn|euros?|dollars?|dólares|dolares|pesos|pounds|libras)\b|[€$£]`
)

// extractors run in this order over each message, and every match is blanked
// out before the next one runs: an email's digits never become a phone, a
// date with a year never becomes a price.
var extractors = []extractor{
	{group: groupEmails, re: regexp.MustCompile(`\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b`)},
	{group: groupMaskOnly, re: regexp.MustCompile(`\b(?:https?://|www\.)\S+`)},
	// Stock greetings ("How can I help you today?") are not dates.
	{group: groupMaskOnly, re: regexp.MustCompile(`\b(?:help|assist)\s+you(?:\s+with)?\s+today\b|\bayudar(?:te|le|les)\s+hoy\b|\bvandaag\s+(?:helpen|van\s+dienst)\b|\b(?:je|u)\s+vandaag\s+helpen\b`)},
	{group: groupDates, re: regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b`)},
	{group: groupReferences, re: regexp.MustCompile(`\b(?:order|booking|reservation|ticket|invoice|case|pedido|reserva|factura|orden|bestelling|boeking|reservering|factuur|bestelnummer|ordernummer)` +
		`(?:\s+(?:number|no\.?|nr\.?|núm\.?|número|numero|nummer|id|code))?\s*:?\s*#?[a-z]*-?\d[a-z0-9-]{2,}\b|#[a-z]*-?\d[a-z0-9-]{2,}\b`)},
	{group: groupAmounts, re: regexp.MustCompile(`(?:us\$|[€$£])\s?(?:` + number + `)(?:` + perUnit + `)?|\b(?:` + number + `)\s?(?:` + currencies + `)(?:` + perUnit + `)?`)},
	{group: groupPhones, re: regexp.MustCompile(`(?:\+\d{1,3}[\s.-]?\(?\d{1,4}\)?|\(?\d{2,4}\)?)[\s.-]?\d{2,4}(?:[\s.-]?\d{2,4}){1,3}`), keep: isPhone},
	{group: groupTimes, re: regexp.MustCompile(`\ba\s+las\s+(\d{1,2}(?:[:.][0-5]\d)?(?:\s+de\s+la\s+(?:mañana|tarde|noche)|\s+y\s+media)?)`)},
	{group: groupTimes, re: regexp.MustCompile(`\b(?:[01]?\d|2[0-3]):[0-5]\d(?:\s*(?:[ap]m\b|[ap]\.m\.|h\b|hrs\b|uur\b|u\b))?` +
		`|\b(?:[01]?\d|2[0-3])\.[0-5]\d\s*(?:uur|u|h)\b` +
		`|\b(?:1[0-2]|0?[1-9])\s*(?:[ap]m\b|[ap]\.m\.)` +
		`|\b\d{1,2}\s*(?:o'clock|uur)\b` +
		`|\b(?:noon|midday|midnight|mediodía|medianoche|middernacht)\b` +
		`|\b(?:in\s+the\s+(?:morning|afternoon|evening)|(?:(?:por|de|en)\s+la|esta)\s+(?:mañana|tarde|noche))\b` +
		`|'s\s?(?:ochtends|morgens|middags|avonds)\b`)},
	// "om 19.30" and "at 7.30": a dotted time needs a word that says it is one.
	{group: groupTimes, re: regexp.MustCompile(`\b(?:om|at|around|rond|tegen)\s+((?:[01]?\d|2[0-3])\.[0-5]\d)\b`)},
	{group: groupDates, re: regexp.MustCompile(`\b(?:(?:` + weekdays + `),?\s+(?:the\s+)?)?\d{1,2}` + ordinal +
		`(?:\s*[-–]\s*\d{1,2}` + ordinal + `)?\s+(?:of\s+|de\s+)?(?:` + monthNames + `)\b(?:,?\s+(?:de\s+|del\s+)?\d{4}\b)?`)},
	{group: groupDates, re: regexp.MustCompile(`\b(?:(?:` + weekdays + `),?\s+)?(?:` + englishMonths + `)\.?\s+\d{1,2}(?:st|nd|rd|th)?` +
		`(?:\s*[-–]\s*\d{1,2}(?:st|nd|rd|th)?)?\b(?:,?\s+\d{4}\b)?`), keep: notModalMay},
	{group: groupDates, re: regexp.MustCompile(`\b\d{1,2}/\d{1,2}\b`), keep: isDayMonth},
	{group: groupDates, re: regexp.MustCompile(`\b(?:the\s+)?(?:first|second|third|fourth|last)\s+week\s+of\s+(?:` + fullMonths + `)\b` +
		`|\b(?:in|en|since|until|sinds|tot|desde|hasta|early|late|mid|eind|begin|principios\s+de|finales\s+de)\s+(` + fullMonths + `)\b`), keep: notModalMay},
	{group: groupDates, re: regexp.MustCompile(`\b(?:(?:next|this|coming|last|past|el\s+próximo|el\s+proximo|este|próximo|proximo|volgende|aanstaande|komende|afgelopen|vorige|deze)\s+)?` +
		`(?:` + weekdays + `)(?:ochtend|middag|avond|nacht)?(?:\s+(?:morning|afternoon|evening|night))?\b`)},
	{group: groupDates, re: regexp.MustCompile(`\b(?:the\s+day\s+after\s+tomorrow|tomorrow(?:\s+(?:morning|afternoon|evening|night))?|today|tonight|yesterday|` +
		`this\s+(?:weekend|week|month)|next\s+(?:week|weekend|month|year)|last\s+(?:week|month)|` +
		`pasado\s+mañana|mañana|hoy|esta\s+noche|ayer|(?:la\s+)?(?:próxima|proxima)\s+semana|la\s+semana\s+que\s+viene|` +
		`este\s+fin\s+de\s+semana|la\s+semana\s+pasada|` +
		`overmorgen|morgen(?:ochtend|middag|avond)?|vandaag|vanavond|gisteren|volgende\s+week|vorige\s+week|` +
		`dit\s+weekend|komend\s+weekend|volgend\s+weekend)\b`), keep: notGreeting},
	{group: groupQuantities, re: regexp.MustCompile(`\b(?:` + numberWords + `|a\s+couple\s+of)(?:\s+(?:` + quantityAdjectives + `))?\s+(?:` + units + `)\b`)},
	{group: groupQuantities, re: regexp.MustCompile(`\b(?:(?:table|party|group|family|booking|reservation|mesa|reserva|grupo|familia|tafel|reservering|groep|gezin)\s+(?:for|of|para|de|voor|van)` +
		`|we\s+are|we're|we\s+will\s+be|we'll\s+be|somos|seremos|we\s+zijn\s+met|we\s+komen\s+met)\s+(?:` + numberWords + `)\b`)},
}

// isPhone accepts 8 to 15 digits (E.164's upper bound) standing on their own.
func isPhone(s string, start, end int) bool {
	if start > 0 && isWordByte(s[start-1]) || end < len(s) && isWordByte(s[end]) {
		return false
	}
	n := 0
	for _, c := range s[start:end] {
		if c >= '0' && c <= '9' {
			n++
		}
	}
	return n >= 8 && n <= 15
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// isDayMonth accepts 12/3 or 3/12 but not 24/7 (always open) or 50/50.
func isDayMonth(s string, start, end int) bool {
	a, b, _ := strings.Cut(s[start:end], "/")
	d, m := atoi(a), atoi(b)
	if a+"/"+b == "24/7" {
		return false
	}
	return d >= 1 && m >= 1 && (d <= 31 && m <= 12 || d <= 12 && m <= 31)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// notModalMay drops "may 4 of us come" and "in may be": lower-case "may"
// is a verb.
func notModalMay(s string, start, end int) bool {
	m := s[start:end]
	return !strings.HasPrefix(m, "may ") && !strings.HasSuffix(m, " may")
}

// notGreeting drops the Dutch greeting "Morgen!" (short for good morning)
// at the start of a message; elsewhere "morgen" means tomorrow.
func notGreeting(s string, start, end int) bool {
	if start != 0 || !strings.EqualFold(s[start:end], "morgen") {
		return true
	}
	rest := strings.TrimLeft(s[end:], " ")
	return rest != "" && !strings.ContainsAny(rest[:1], "!,.")
}

// extractFacts finds facts in texts (oldest first). Each value appears once,
// at its first mention, with the message's own spelling.
func extractFacts(texts []string) facts {
	var f facts
	seen := make(map[string]bool)
	for _, text := range texts {
		for _, m := range findFacts(text) {
			key := strings.ToLower(m.value)
			if seen[key] {
				continue
			}
			seen[key] = true
			f[m.group] = append(f[m.group], m.value)
		}
	}
	for g := range f {
		f[g] = dropContained(f[g])
	}
	return f
}

// dropContained removes a value that another value of its kind spells out
// in full: "Friday" beside "Friday 24 April", "€65" beside "€65 per person".
func dropContained(vs []string) []string {
	out := vs[:0:0]
	for i, v := range vs {
		contained := false
		for j, w := range vs {
			if i != j && len(w) > len(v) && containsWord(strings.ToLower(w), strings.ToLower(v)) {
				contained = true
				break
			}
		}
		if !contained {
			out = append(out, v)
		}
	}
	return out
}

// containsWord reports whether sub occurs in s with no letter or digit
// glued to either side, so "€15" is not inside "€150".
func containsWord(s, sub string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], sub)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(sub)
		before, _ := utf8.DecodeLastRuneInString(s[:start])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if !isAlnum(before) && !isAlnum(after) {
			return true
		}
		i = start + 1
	}
}

func isAlnum(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

type factMatch struct {
	group factGroup
	start int
	value string
}

// findFacts returns the facts in one text in reading order.
// The patterns are written in lower case and run over a lower-cased copy of
// the text, which is much faster than case-insensitive matching; values are
// taken from the original at the same offsets.
func findFacts(text string) []factMatch {
	buf := lowerSameLength(text)
	var found []factMatch
	for _, ex := range extractors {
		for _, loc := range ex.re.FindAllSubmatchIndex(buf, -1) {
			if ex.keep != nil && !ex.keep(text, loc[0], loc[1]) {
				continue
			}
			vs, ve := loc[0], loc[1]
			if len(loc) > 2 && loc[2] >= 0 {
				vs, ve = loc[2], loc[3]
			}
			if ex.group != groupMaskOnly {
				found = append(found, factMatch{group: ex.group, start: vs, value: cleanFact(text[vs:ve])})
			}
			for i := loc[0]; i < loc[1]; i++ {
				buf[i] = ' ' // same length, so offsets stay valid
			}
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].start < found[j].start })
	return found
}

// lowerSameLength lower-cases s, leaving alone the rare runes whose lower
// case takes a different number of bytes, so offsets match the original.
func lowerSameLength(s string) []byte {
	buf := make([]byte, 0, len(s))
	for _, r := range s {
		if l := unicode.ToLower(r); utf8.RuneLen(l) == utf8.RuneLen(r) {
			r = l
		}
		buf = utf8.AppendRune(buf, r)
	}
	return buf
}

func cleanFact(v string) string {
	return strings.TrimRightFunc(normalizeSpace(v), func(r rune) bool { return unicode.IsPunct(r) && r != '.' })
}
