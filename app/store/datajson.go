package store

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Event data is read once at ingest and hashed once. Both used to go
// through encoding/json several times (a UTF-8 and depth scan, Compact, a
// decode, a walk for large numbers, then Marshal for the hash): the largest
// cost of batch ingest. ParseData does the reading in one pass and
// appendCanonical the hash's encoding without reflection, with the same
// results byte for byte (FuzzParseData checks them against encoding/json).

// DataErrorKind is what is wrong with event data.
type DataErrorKind int

const (
	DataSyntax         DataErrorKind = iota // not JSON
	DataNotObject                           // JSON, but not an object
	DataUTF8                                // text that is not valid UTF-8
	DataTooDeep                             // nested deeper than allowed
	DataNumberTooLarge                      // a number beyond float64 (I-JSON, RFC 7493)
)

// DataError says what is wrong with event data and, for a number, where.
type DataError struct {
	Kind   DataErrorKind
	Path   string // for DataNumberTooLarge: where, from the data (".a.b[2]")
	Number string // for DataNumberTooLarge: the number as written
}

func (e *DataError) Error() string {
	switch e.Kind {
	case DataNotObject:
		return "data is not a JSON object"
	case DataUTF8:
		return "data holds text that is not valid UTF-8"
	case DataTooDeep:
		return "data is nested too deeply"
	case DataNumberTooLarge:
		return "data" + e.Path + " is a number too large for a float64"
	}
	return "data is not valid JSON"
}

// JSONDepth is the deepest nesting of objects and arrays in raw, JSON or
// not: {} is 1, {"a":[1]} is 2.
func JSONDepth(raw []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, b := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			depth++
			deepest = max(deepest, depth)
		case b == '}' || b == ']':
			depth--
		}
	}
	return deepest
}

// ParseData reads event data, a JSON object, in one pass and returns it
// compacted (as json.Compact writes it) and decoded (as encoding/json
// decodes it with UseNumber). It refuses invalid UTF-8 (which the decoder
// would silently replace), nesting deeper than maxDepth (the outer object
// is 1, as JSONDepth counts), and numbers a float64 cannot hold. When
// several are wrong, the first of that list is reported (invalid UTF-8,
// too deep, not JSON, not an object, a large number), and the first large
// number in the text.
func ParseData(raw []byte, maxDepth int) (compact []byte, fields map[string]any, err error) {
	if !utf8.Valid(raw) {
		return nil, nil, &DataError{Kind: DataUTF8}
	}
	p := &dataParser{in: raw, out: make([]byte, 0, len(raw)), maxDepth: maxDepth}
	p.space()
	object := p.peek() == '{'
	v, err := p.value(0)
	if err == nil && !p.end() {
		err = errDataSyntax
	}
	if err != nil {
		// Too deep comes before not JSON, as the text shows it: parsing
		// stops at whichever it meets first.
		if JSONDepth(raw) > maxDepth {
			return nil, nil, &DataError{Kind: DataTooDeep}
		}
		return nil, nil, errDataSyntax
	}
	if !object {
		return nil, nil, &DataError{Kind: DataNotObject}
	}
	if p.bigNumber != nil {
		return nil, nil, p.bigNumber
	}
	return p.out, v.(map[string]any), nil
}

type dataParser struct {
	in        []byte
	i         int
	out       []byte
	maxDepth  int
	path      []pathPart // where the parser is, for an error about a number
	bigNumber *DataError // the first number too large, reported if nothing worse is found
}

// pathPart is an object key, or an array index when key is not set.
type pathPart struct {
	key   string
	index int
	isKey bool
}

var errDataSyntax = &DataError{Kind: DataSyntax}

func (p *dataParser) peek() byte {
	if p.i < len(p.in) {
		return p.in[p.i]
	}
	return 0
}

func (p *dataParser) space() {
	for p.i < len(p.in) {
		switch p.in[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// end skips trailing space and says whether the input ends there.
func (p *dataParser) end() bool {
	p.space()
	return p.i == len(p.in)
}

// value reads the value at p.i; depth is its container's nesting.
func (p *dataParser) value(depth int) (any, error) {
	switch c := p.peek(); {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.text()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, errDataSyntax
}

func (p *dataParser) object(depth int) (any, error) {
	empty, err := p.open(depth, '}')
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	for !empty {
		if p.peek() != '"' {
			return nil, errDataSyntax
		}
		k, err := p.text()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.peek() != ':' {
			return nil, errDataSyntax
		}
		p.i++
		p.out = append(p.out, ':')
		p.space()
		p.path = append(p.path, pathPart{key: k, isKey: true})
		v, err := p.value(depth)
		p.path = p.path[:len(p.path)-1]
		if err != nil {
			return nil, err
		}
		m[k] = v // a repeated key: the last one counts, as in encoding/json
		if empty, err = p.next('}'); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (p *dataParser) array(depth int) (any, error) {
	empty, err := p.open(depth, ']')
	if err != nil {
		return nil, err
	}
	a := []any{}
	for !empty {
		p.path = append(p.path, pathPart{index: len(a)})
		v, err := p.value(depth)
		p.path = p.path[:len(p.path)-1]
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		if empty, err = p.next(']'); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// open enters the object or array at p.i, whose last byte is end, and says
// whether it is empty (then it has been read whole).
func (p *dataParser) open(depth int, end byte) (empty bool, err error) {
	if depth > p.maxDepth {
		return false, &DataError{Kind: DataTooDeep}
	}
	p.out = append(p.out, p.in[p.i])
	p.i++
	p.space()
	if p.peek() == end {
		p.i++
		p.out = append(p.out, end)
		return true, nil
	}
	return false, nil
}

// next reads what follows a member of an object or array: a comma (more
// follow) or its end (done: it has been read whole).
func (p *dataParser) next(end byte) (done bool, err error) {
	p.space()
	switch p.peek() {
	case ',':
		p.i++
		p.out = append(p.out, ',')
		p.space()
		return false, nil
	case end:
		p.i++
		p.out = append(p.out, end)
		return true, nil
	}
	return false, errDataSyntax
}

func (p *dataParser) literal(word string) error {
	if !strings.HasPrefix(string(p.in[p.i:min(len(p.in), p.i+len(word))]), word) {
		return errDataSyntax
	}
	p.i += len(word)
	p.out = append(p.out, word...)
	return nil
}

// number reads a number as written (json.Number), after JSON's grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (p *dataParser) number() (any, error) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return nil, errDataSyntax
	}
	plain := true // no exponent: as large as its digits, checked below by length
	if p.peek() == '.' {
		p.i++
		if p.digits() == 0 {
			return nil, errDataSyntax
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		plain = false
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if p.digits() == 0 {
			return nil, errDataSyntax
		}
	}
	lit := string(p.in[start:p.i])
	p.out = append(p.out, lit...)
	// A float64 holds up to about 1.8e308: a literal of fewer than 300
	// characters without an exponent is below that.
	if (!plain || len(lit) >= 300) && p.bigNumber == nil {
		if _, err := strconv.ParseFloat(lit, 64); err != nil {
			p.bigNumber = &DataError{Kind: DataNumberTooLarge, Path: p.where(), Number: lit}
		}
	}
	return json.Number(lit), nil
}

func (p *dataParser) digits() int {
	n := 0
	for p.i < len(p.in) && p.in[p.i] >= '0' && p.in[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// where is the parser's path as the API names a field: .key and [index].
func (p *dataParser) where() string {
	var b strings.Builder
	for _, part := range p.path {
		if part.isKey {
			b.WriteString(".")
			b.WriteString(part.key)
		} else {
			b.WriteString("[" + strconv.Itoa(part.index) + "]")
		}
	}
	return b.String()
}

// text reads a string, its escapes checked; the input was checked as UTF-8.
func (p *dataParser) text() (string, error) {
	start := p.i
	p.i++
	escaped := false
	for {
		if p.i >= len(p.in) {
			return "", errDataSyntax
		}
		c := p.in[p.i]
		if c == '"' {
			break
		}
		if c < 0x20 {
			return "", errDataSyntax
		}
		if c != '\\' {
			p.i++
			continue
		}
		escaped = true
		switch p.peekAt(1) {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			p.i += 2
		case 'u':
			if _, ok := hex4(p.in[p.i+2:]); !ok {
				return "", errDataSyntax
			}
			p.i += 6
		default:
			return "", errDataSyntax
		}
	}
	p.i++
	lit := p.in[start:p.i]
	p.out = append(p.out, lit...)
	if !escaped {
		return string(lit[1 : len(lit)-1]), nil
	}
	return unescape(lit[1 : len(lit)-1]), nil
}

func (p *dataParser) peekAt(k int) byte {
	if p.i+k < len(p.in) {
		return p.in[p.i+k]
	}
	return 0
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}

// unescape decodes a string's checked escapes as encoding/json does: a
// surrogate that is not half of a valid pair becomes U+FFFD.
func unescape(s []byte) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, _ := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2, _ := hex4(s[i+2:])
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						b = utf8.AppendRune(b, d)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default: // " \ /
			b = append(b, s[i+1])
		}
		i += 2
	}
	return string(b)
}

// appendCanonical appends v, data decoded from JSON, as json.Marshal
// encodes it: object keys sorted, strings escaped for HTML. Anything else
// goes to json.Marshal.
func appendCanonical(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return AppendJSONString(b, x)
	case json.Number:
		if x == "" {
			return append(b, '0')
		}
		return append(b, x...)
	case map[string]any:
		if x == nil {
			return append(b, "null"...)
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, k)
			b = append(b, ':')
			b = appendCanonical(b, x[k])
		}
		return append(b, '}')
	case []any:
		if x == nil {
			return append(b, "null"...)
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, e)
		}
		return append(b, ']')
	}
	enc, _ := json.Marshal(v)
	return append(b, enc...)
}

// AppendJSONString appends s as json.Marshal encodes a string (escaped for
// HTML too).
func AppendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
