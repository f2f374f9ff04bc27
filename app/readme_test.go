package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeCommand is one curl command of the README's quick start and the
// answer the README says it gets (the "# → 201 {...}" line after it).
type readmeCommand struct {
	Line   int
	Args   []string // the command's words, as the shell would split them
	Status int
	Answer string // a JSON template: "…" stands for any text
}

// TestREADMEQuickStart runs the curl commands of README.md's quick start
// against a real Herald and checks each documented status and field, so the
// README cannot go stale. Only localhost:8080, $TOKEN, the example receiver
// URL and the ids the README elides (wh_…) are replaced.
func TestREADMEQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := quickStartCommands(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) < 3 {
		t.Fatalf("the quick start has %d curl commands; expected at least 3", len(cmds))
	}
	s := newTestServer(t)
	rc := newReceiver(t)
	host := strings.TrimPrefix(s.URL, "http://")
	ids := map[string]string{} // "wh_" -> the id of the last answer with that prefix
	for _, c := range cmds {
		req, err := curlRequest(c.Args, func(w string) string {
			w = strings.ReplaceAll(w, "$TOKEN", s.Token)
			w = strings.ReplaceAll(w, "localhost:8080", host)
			w = strings.ReplaceAll(w, "https://example.com/hooks/crm", rc.URL+"/hooks/crm")
			return elided.ReplaceAllStringFunc(w, func(m string) string {
				if id, ok := ids[strings.TrimSuffix(m, "…")]; ok {
					return id
				}
				return m
			})
		})
		if err != nil {
			t.Fatalf("README.md:%d: %v", c.Line, err)
		}
		reqBody := []byte(nil)
		if req.GetBody != nil {
			b, _ := req.GetBody()
			reqBody, _ = io.ReadAll(b)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("README.md:%d: %v", c.Line, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := checkExchange(exchange{Method: req.Method, URL: req.URL.String(), Header: req.Header, Body: reqBody,
			Status: resp.StatusCode, RespHeader: resp.Header, RespBody: body}); err != nil {
			t.Errorf("README.md:%d: %v", c.Line, err)
		}
		if resp.StatusCode != c.Status {
			t.Fatalf("README.md:%d: status %d, the README says %d: %s", c.Line, resp.StatusCode, c.Status, body)
		}
		if err := matchTemplate(c.Answer, body); err != nil {
			t.Fatalf("README.md:%d: the answer does not match the README's %s: %v\nanswer: %s", c.Line, c.Answer, err, body)
		}
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			if id, ok := m["id"].(string); ok {
				if p, _, ok := strings.Cut(id, "_"); ok {
					ids[p+"_"] = id
				}
			}
		}
	}
	// And the event of the quick start reached the webhook it created.
	got := rc.next(t, 10*time.Second)
	if got.Env.Event != "contact_created" {
		t.Errorf("the receiver got %s, want the quick start's contact_created", got.Body)
	}
}

// elided is an id the README leaves out: "wh_…".
var elided = regexp.MustCompile(`[a-z]+_…`)

// quickStartCommands finds the curl commands in the ```sh blocks of the
// "Quick start" section, each followed by its "# → STATUS ANSWER" line.
func quickStartCommands(readme string) ([]readmeCommand, error) {
	start := strings.Index(readme, "\n## Quick start\n")
	if start < 0 {
		return nil, fmt.Errorf("README.md has no ## Quick start section")
	}
	section := readme[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	firstLine := strings.Count(readme[:start+1], "\n") + 1
	lines := strings.Split(section, "\n")
	var out []readmeCommand
	inSh := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "```sh"):
			inSh = true
			continue
		case strings.HasPrefix(l, "```"):
			inSh = false
			continue
		}
		if !inSh || !strings.HasPrefix(l, "curl ") {
			continue
		}
		c := readmeCommand{Line: firstLine + i}
		text := l
		for strings.HasSuffix(text, "\\") && i+1 < len(lines) {
			i++
			text = strings.TrimSuffix(text, "\\") + "\n" + lines[i]
		}
		args, err := shellWords(text)
		if err != nil {
			return nil, fmt.Errorf("README.md:%d: %v", c.Line, err)
		}
		c.Args = args
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "# → ") {
			return nil, fmt.Errorf("README.md:%d: a curl command without its '# → STATUS ANSWER' line", c.Line)
		}
		i++
		want := strings.TrimPrefix(lines[i], "# → ")
		code, answer, _ := strings.Cut(want, " ")
		if _, err := fmt.Sscan(code, &c.Status); err != nil {
			return nil, fmt.Errorf("README.md:%d: %q is not a status", firstLine+i, code)
		}
		c.Answer = answer
		out = append(out, c)
	}
	return out, nil
}

// shellWords splits a command as sh would for the quoting the README uses:
// '...', "..." and a backslash before a newline.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i++
		case ch == '\'' || ch == '"':
			end := strings.IndexByte(s[i+1:], ch)
			if end < 0 {
				return nil, fmt.Errorf("unterminated %c quote", ch)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '#' && !inWord:
			i = len(s) // a comment
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// curlRequest builds the request curl would send for args (after expand):
// -s, -X, -H and -d; -d means POST and, unless a header says otherwise,
// Content-Type: application/x-www-form-urlencoded, as with curl.
func curlRequest(args []string, expand func(string) string) (*http.Request, error) {
	if len(args) == 0 || args[0] != "curl" {
		return nil, fmt.Errorf("not a curl command: %q", args)
	}
	method, url := "", ""
	header := http.Header{}
	var data []byte
	hasData := false
	for i := 1; i < len(args); i++ {
		a := expand(args[i])
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", a)
			}
			i++
			return expand(args[i]), nil
		}
		var err error
		switch a {
		case "-s", "--silent":
		case "-X", "--request":
			method, err = next()
		case "-H", "--header":
			var h string
			if h, err = next(); err == nil {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return nil, fmt.Errorf("bad header %q", h)
				}
				header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		case "-d", "--data":
			var d string
			d, err = next()
			data, hasData = []byte(d), true
		default:
			if strings.HasPrefix(a, "-") || url != "" {
				return nil, fmt.Errorf("the test does not know curl's %q", a)
			}
			url = a
		}
		if err != nil {
			return nil, err
		}
	}
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	if method == "" {
		method = http.MethodGet
		if hasData {
			method = http.MethodPost
		}
	}
	var body io.Reader
	if hasData {
		body = bytes.NewReader(data)
		if header.Get("Content-Type") == "" {
			header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return req, nil
}

// matchTemplate checks a JSON answer against the README's template, where
// "…" inside a string stands for any text, and a trailing ,… in an object or
// array for any further members; an object without it has only the keys shown.
func matchTemplate(template string, answer []byte) error {
	t := strings.NewReplacer(",…}", `,"…":true}`, "{…}", `{"…":true}`, ",…]", `,"…"]`).Replace(template)
	var want, got any
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	if err := dec.Decode(&want); err != nil {
		return fmt.Errorf("the README's answer is not a JSON template: %v", err)
	}
	dec = json.NewDecoder(bytes.NewReader(answer))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	return matchValue("", want, got)
}

func matchValue(at string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %v", at, got)
		}
		_, open := w["…"]
		for k, wv := range w {
			if k == "…" {
				continue
			}
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing", at, k)
			}
			if err := matchValue(at+"."+k, wv, gv); err != nil {
				return err
			}
		}
		if n := len(w); open {
			n--
		} else if len(g) != n {
			return fmt.Errorf("%s: %d fields, the README shows %d and no …", at, len(g), n)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %v", at, got)
		}
		open := len(w) > 0 && w[len(w)-1] == "…"
		if open {
			w = w[:len(w)-1]
		}
		if len(g) < len(w) || !open && len(g) != len(w) {
			return fmt.Errorf("%s: %d items, the README shows %d", at, len(g), len(w))
		}
		for i := range w {
			if err := matchValue(fmt.Sprintf("%s[%d]", at, i), w[i], g[i]); err != nil {
				return err
			}
		}
	case string:
		g, ok := got.(string)
		if !ok {
			return fmt.Errorf("%s: want a string, got %v", at, got)
		}
		if pre, post, wild := strings.Cut(w, "…"); wild {
			if !strings.HasPrefix(g, pre) || !strings.HasSuffix(g[len(pre):], post) {
				return fmt.Errorf("%s: %q does not match %q", at, g, w)
			}
		} else if g != w {
			return fmt.Errorf("%s: %q, the README says %q", at, g, w)
		}
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return fmt.Errorf("%s: %v, the README says %v", at, got, want)
		}
	}
	return nil
}

// TestREADMETemplates: the README check fails on what a stale README shows.
func TestREADMETemplates(t *testing.T) {
	cases := []struct {
		template, answer string
		ok               bool
	}{
		{`{"id":"wh_…","enabled":true,…}`, `{"id":"wh_1","enabled":true,"url":"x"}`, true},
		{`{"id":"evt_…","deliveries":1}`, `{"id":"evt_1","deliveries":1}`, true},
		{`{"id":"evt_…","deliveries":1}`, `{"id":"evt_1","deliveries":1,"new":true}`, false}, // a field the README does not show
		{`{"id":"evt_…","deliveries":1}`, `{"id":"evt_1","deliveries":2}`, false},
		{`{"id":"wh_…",…}`, `{"id":"hook_1"}`, false},
		{`{"id":"wh_…",…}`, `{"name":"x"}`, false},
		{`{"data":[{"id":"dlv_…",…}],"next_cursor":""}`, `{"data":[],"next_cursor":""}`, false},
		{`{"data":[{"id":"dlv_…",…}],"next_cursor":""}`, `{"data":[{"id":"dlv_1","x":1}],"next_cursor":""}`, true},
		{`{"openapi":"3.1.0",…}`, `{"openapi":"3.0.3"}`, false},
	}
	for _, c := range cases {
		if err := matchTemplate(c.template, []byte(c.answer)); (err == nil) != c.ok {
			t.Errorf("matchTemplate(%s, %s) = %v, want ok=%v", c.template, c.answer, err, c.ok)
		}
	}
	if _, err := quickStartCommands("# X\n\n## Quick start\n\n```sh\ncurl -s localhost:8080/api/v1/webhooks\n```\n"); err == nil {
		t.Error("a curl command without its answer line was accepted")
	}
	words, err := shellWords(`curl -s -X POST x -H "A: $T" \` + "\n" + `  -d '{"a": "b c"}'`)
	if err != nil || strings.Join(words, "|") != `curl|-s|-X|POST|x|-H|A: $T|-d|{"a": "b c"}` {
		t.Errorf("shellWords = %q, %v", words, err)
	}
}
