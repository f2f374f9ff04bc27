package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzDepth is the nesting limit the fuzz target parses with: small, so
// that the limit is reached often.
const fuzzDepth = 6

var dataSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, "{\n \"a\" : [ 1 , 2.5e3 , -0.0 , true , false , null ] }",
	`{"contact":{"id":"ct_1","name":"Ada Lovelace"},"message":{"text":"Hi <b>&</b>","direction":"inbound"}}`,
	`{"a":"\u00e9\ud83d\ude00\ud800\udc00x\ud800y\udc00\u2028\u2029\/\b\f\n\r\t\"\\"}`,
	`{"a":"` + "\u2028 é 😀 \x7f" + `"}`, `{"a":"\ud83d"}`, `{"a":"\ud83d\u0041"}`, `{"a":"\udc00\ud800"}`,
	`{"a":1e999}`, `{"a":[1,{"b":-1e309}],"c":1e400}`, `{"a":1e-400}`, `{"a":` + strings.Repeat("9", 320) + `}`,
	`{"a":1,"a":2}`, `{"b":1,"a":{"d":[],"c":{}}}`, `{"a":[[[[[[1]]]]]]}`, `{"a":{"b":{"c":{"d":{"e":{}}}}}}`,
	`[1]`, `"x"`, `1`, `null`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":"\x"}`,
	`{"a":"\u12"}`, `{"a":1,}`, `{,}`, `{"a" 1}`, `{"a":1} x`, `{"a":"` + "\x01" + `"}`, "{\"a\":\"\xff\"}", `{"a":[1,]}`,
	`{"a":"\u0000"}`, `{"k\u003c":"<>&"}`,
}

// ParseData against encoding/json: the same verdict, the same compact text,
// the same decoded value; appendCanonical against json.Marshal.
func FuzzParseData(f *testing.F) {
	for _, s := range dataSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkParseData(t, in)
		s := string(in)
		want, _ := json.Marshal(s)
		if got := AppendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSONString(%q) = %s, json.Marshal gives %s", s, got, want)
		}
	})
}

func TestParseDataSeeds(t *testing.T) {
	for _, s := range dataSeeds {
		checkParseData(t, []byte(s))
	}
}

func checkParseData(t *testing.T, in []byte) {
	t.Helper()
	compact, fields, err := ParseData(in, fuzzDepth)
	var de *DataError
	if err != nil && !errors.As(err, &de) {
		t.Fatalf("ParseData(%q): %v is not a *DataError", in, err)
	}
	var want any
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	valid := json.Valid(in)
	if valid {
		if derr := dec.Decode(&want); derr != nil {
			t.Fatalf("json.Valid(%q) but Decode: %v", in, derr)
		}
	}
	if valid && JSONDepth(in) != tokens(in).depth {
		t.Fatalf("JSONDepth(%q) = %d; encoding/json's tokens nest %d deep", in, JSONDepth(in), tokens(in).depth)
	}
	obj, isObject := want.(map[string]any)
	var kind DataErrorKind
	switch {
	case !utf8.Valid(in):
		kind = DataUTF8
	case JSONDepth(in) > fuzzDepth:
		kind = DataTooDeep
	case !valid:
		kind = DataSyntax
	case !isObject:
		kind = DataNotObject
	case tokens(in).bigAt != "":
		kind = DataNumberTooLarge
	default:
		if err != nil {
			t.Fatalf("ParseData(%q): %v; encoding/json accepts it", in, err)
		}
		var wantCompact bytes.Buffer
		if cerr := json.Compact(&wantCompact, in); cerr != nil || !bytes.Equal(compact, wantCompact.Bytes()) {
			t.Fatalf("ParseData(%q) compact = %q, json.Compact gives %q (%v)", in, compact, wantCompact.Bytes(), cerr)
		}
		if !reflect.DeepEqual(fields, obj) {
			t.Fatalf("ParseData(%q) fields = %#v, encoding/json gives %#v", in, fields, obj)
		}
		wantCanon, merr := json.Marshal(fields)
		if got := appendCanonical(nil, fields); merr != nil || !bytes.Equal(got, wantCanon) {
			t.Fatalf("appendCanonical(%q) = %s, json.Marshal gives %s (%v)", in, got, wantCanon, merr)
		}
		return
	}
	if de == nil || de.Kind != kind {
		t.Fatalf("ParseData(%q) = %v, want error kind %d", in, err, kind)
	}
	if tk := tokens(in); kind == DataNumberTooLarge && (de.Path != tk.bigAt || de.Number != tk.big) {
		t.Fatalf("ParseData(%q): number %q at %q, want %q at %q", in, de.Number, de.Path, tk.big, tk.bigAt)
	}
}

// tokenFacts is what encoding/json's token stream shows of valid JSON, in
// the order of the text: how deep it nests, and the first number a float64
// cannot hold, with its path as ParseData reports it.
type tokenFacts struct {
	depth      int
	big, bigAt string
}

func tokens(in []byte) (f tokenFacts) {
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	type level struct {
		object bool
		key    string
		index  int
		isKey  bool // the next token of this object is a key
	}
	var stack []level
	where := func() string {
		var b strings.Builder
		for _, l := range stack {
			if l.object {
				b.WriteString("." + l.key)
			} else {
				b.WriteString("[" + strconv.Itoa(l.index) + "]")
			}
		}
		return b.String()
	}
	// done moves the enclosing container past a value that just ended.
	done := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].object {
				stack[n-1].isKey = true
			} else {
				stack[n-1].index++
			}
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return f
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].isKey {
			if k, ok := tok.(string); ok {
				stack[n-1].key, stack[n-1].isKey = k, false
				continue
			}
		}
		switch x := tok.(type) {
		case json.Delim:
			switch x {
			case '{', '[':
				stack = append(stack, level{object: x == '{', isKey: x == '{'})
				f.depth = max(f.depth, len(stack))
			default:
				stack = stack[:len(stack)-1]
				done()
			}
		case json.Number:
			if _, err := x.Float64(); err != nil && f.bigAt == "" {
				f.big, f.bigAt = string(x), where()
			}
			done()
		default:
			done()
		}
	}
}
