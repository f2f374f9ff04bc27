package app

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIDocument: GET /api/v1/openapi.json answers without a token
// with a valid OpenAPI 3.1 document whose references all resolve.
func TestOpenAPIDocument(t *testing.T) {
	s := newTestServer(t)
	code, raw := s.request("GET", "/api/v1/openapi.json", nil, "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json without a token: %d %s", code, raw)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	if v, _ := doc["openapi"].(string); !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Fatalf("openapi = %q, want 3.1.x", v)
	}
	if _, ok := doc["paths"].(map[string]any); !ok {
		t.Fatal("the document has no paths")
	}

	t.Run("every $ref points into the document", func(t *testing.T) {
		var walk func(v any, at string)
		n := 0
		walk = func(v any, at string) {
			switch v := v.(type) {
			case map[string]any:
				if ref, ok := v["$ref"].(string); ok {
					n++
					if _, err := jsonPointer(doc, ref); err != nil {
						t.Errorf("%s: $ref %q: %v", at, ref, err)
					}
				}
				for k, c := range v {
					walk(c, at+"/"+k)
				}
			case []any:
				for _, c := range v {
					walk(c, at+"/[]")
				}
			}
		}
		walk(doc, "#")
		if n < 50 {
			t.Errorf("only %d $refs: the document is smaller than expected", n)
		}
	})

	t.Run("it loads and validates as OpenAPI 3.1, examples included", func(t *testing.T) {
		loader := openapi3.NewLoader()
		d, err := loader.LoadFromData(raw)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		if !d.IsOpenAPI31OrLater() {
			t.Fatalf("the loader does not take it as 3.1: %s", d.OpenAPI)
		}
		if err := d.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
			t.Fatalf("validate: %v", err)
		}
	})

	t.Run("every operation has an id, a scope and the error answers", func(t *testing.T) {
		spec, err := loadAPISpec()
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for path, item := range spec.doc.Paths.Map() {
			for method, op := range item.Operations() {
				name := method + " " + path
				if op.OperationID == "" || ids[op.OperationID] {
					t.Errorf("%s: operationId %q missing or repeated", name, op.OperationID)
				}
				ids[op.OperationID] = true
				if path == "/openapi.json" {
					if op.Security == nil || len(*op.Security) != 0 {
						t.Errorf("%s: must need no token (security: [])", name)
					}
					continue
				}
				if op.Security == nil || len(*op.Security) == 0 {
					t.Errorf("%s: no security requirement", name)
				}
				for _, code := range []int{400, 401, 403, 422, 431, 503} {
					if op.Responses.Status(code) == nil {
						t.Errorf("%s: does not document %d", name, code)
					}
				}
				if op.RequestBody != nil {
					for _, code := range []int{408, 413, 415, 507} {
						if op.Responses.Status(code) == nil {
							t.Errorf("%s: takes a body but does not document %d", name, code)
						}
					}
				}
				if strings.Contains(path, "{id}") && op.Responses.Status(404) == nil {
					t.Errorf("%s: names an object but does not document 404", name)
				}
			}
		}
	})

	t.Run("ingest tokens may call exactly the ingest routes", func(t *testing.T) {
		spec, err := loadAPISpec()
		if err != nil {
			t.Fatal(err)
		}
		var ingest []string
		for path, item := range spec.doc.Paths.Map() {
			for method, op := range item.Operations() {
				if op.Security == nil {
					continue
				}
				for _, req := range *op.Security {
					if slices.Contains(req["bearerAuth"], ScopeIngest) {
						ingest = append(ingest, method+" "+path)
					}
				}
			}
		}
		slices.Sort(ingest)
		if want := []string{"POST /events", "POST /events/batch"}; !slices.Equal(ingest, want) {
			t.Errorf("the document lets ingest tokens call %v, want %v", ingest, want)
		}
		// And the server agrees: an ingest token gets 403 elsewhere.
		m := s.must("POST", "/api/v1/tokens", map[string]any{"name": "platform", "scope": "ingest"}, http.StatusCreated)
		tok := m["token"].(string)
		if code, body := s.request("GET", "/api/v1/webhooks", nil, tok); code != http.StatusForbidden {
			t.Errorf("GET /webhooks with an ingest token: %d %s", code, body)
		}
		if code, body := s.request("POST", "/api/v1/events", map[string]any{"event": "contact_created", "data": map[string]any{"contact": map[string]any{"id": "ct_1"}}}, tok); code != http.StatusAccepted {
			t.Errorf("POST /events with an ingest token: %d %s", code, body)
		}
	})

	t.Run("the examples are the event catalog's", func(t *testing.T) {
		spec, err := loadAPISpec()
		if err != nil {
			t.Fatal(err)
		}
		ex := spec.doc.Paths.Value("/events").Post.RequestBody.Value.Content.Get("application/json").Examples
		for _, et := range catalog {
			if et.Name == TestEvent {
				continue
			}
			e, ok := ex[et.Name]
			if !ok || e.Value == nil {
				t.Errorf("POST /events has no example for %s", et.Name)
				continue
			}
			got, _ := json.Marshal(e.Value.Value)
			want, _ := json.Marshal(map[string]any{"event": et.Name, "data": et.Example})
			if string(got) != string(want) {
				t.Errorf("example %s = %s, want %s", et.Name, got, want)
			}
			// Each example is accepted as documented.
			s.must("POST", "/api/v1/events", json.RawMessage(got), http.StatusAccepted)
		}
	})
}

// jsonPointer resolves a local reference ("#/components/schemas/Error").
func jsonPointer(doc map[string]any, ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, errNotLocal
	}
	var cur any = doc
	for _, part := range strings.Split(p, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, errNoTarget
		}
		if cur, ok = m[part]; !ok {
			return nil, errNoTarget
		}
	}
	return cur, nil
}

var (
	errNotLocal = &Error{Code: "ref", Message: "not a local reference"}
	errNoTarget = &Error{Code: "ref", Message: "nothing there"}
)

// TestOpenAPIRoutes: every route registered under /api/v1 is in the
// document, and every operation in the document is routed.
func TestOpenAPIRoutes(t *testing.T) {
	s := newTestServer(t)
	spec, err := loadAPISpec()
	if err != nil {
		t.Fatal(err)
	}
	base := spec.doc.Servers[0].URL
	documented := map[string]bool{}
	for path, item := range spec.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+base+path] = true
		}
	}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	routed := map[string]bool{}
	for _, r := range s.App.fiber.GetRoutes(true) {
		if !strings.HasPrefix(r.Path, base+"/") || r.Method == http.MethodHead {
			continue // HEAD is Fiber's own twin of each GET
		}
		routed[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	if len(routed) < 25 {
		t.Fatalf("only %d routes under %s: %v", len(routed), base, routed)
	}
	for r := range routed {
		if !documented[r] {
			t.Errorf("%s is routed but not in openapi.json", r)
		}
	}
	for d := range documented {
		if !routed[d] {
			t.Errorf("%s is in openapi.json but not routed", d)
		}
	}
}

// TestOpenAPICheckCatchesDrift: the check that every API test runs is not a
// formality: answers and requests that break the document are caught.
func TestOpenAPICheckCatchesDrift(t *testing.T) {
	s := newTestServer(t)
	hook := map[string]any{"url": "https://example.com/h", "events": []string{"contact_created"}}
	id, _ := s.createWebhook(hook)
	u := s.URL + "/api/v1/webhooks/" + id
	admin := http.Header{"Authorization": {"Bearer " + testAdminToken}, "Content-Type": {"application/json"}}
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		name string
		x    exchange
	}{
		{"a field the document does not list", exchange{Method: "GET", URL: u, Header: admin, Status: 200, RespHeader: jsonHeader,
			RespBody: []byte(`{"id":"wh_1","surprise":true}`)}},
		{"a field of the wrong type", exchange{Method: "GET", URL: s.URL + "/api/v1/tokens", Header: admin, Status: 200, RespHeader: jsonHeader,
			RespBody: []byte(`{"data":[{"id":1,"name":"x","scope":"admin","created_at":"2026-11-27T08:00:00.000Z"}],"next_cursor":""}`)}},
		{"a status the operation does not list", exchange{Method: "GET", URL: u, Header: admin, Status: 418, RespHeader: jsonHeader,
			RespBody: []byte(`{"error":{"code":"teapot","message":"","field":""}}`)}},
		{"an error code that does not go with its status", exchange{Method: "GET", URL: u, Header: admin, Status: 404, RespHeader: jsonHeader,
			RespBody: []byte(`{"error":{"code":"conflict","message":"","field":""}}`)}},
		{"an error without field", exchange{Method: "GET", URL: u, Header: admin, Status: 404, RespHeader: jsonHeader,
			RespBody: []byte(`{"error":{"code":"not_found","message":"webhook not found"}}`)}},
		{"success for a request the document refuses", exchange{Method: "POST", URL: s.URL + "/api/v1/tokens", Header: admin,
			Body: []byte(`{"name":"x","scope":"root"}`), Status: 201, RespHeader: jsonHeader,
			RespBody: []byte(`{"id":"tok_1","name":"x","scope":"admin","token":"t","created_at":"2026-11-27T08:00:00.000Z"}`)}},
		{"success without a token", exchange{Method: "GET", URL: s.URL + "/api/v1/tokens", Header: jsonHeader, Status: 200, RespHeader: jsonHeader,
			RespBody: []byte(`{"data":[],"next_cursor":""}`)}},
		{"success on an undocumented path", exchange{Method: "GET", URL: s.URL + "/api/v1/secret-admin", Header: admin, Status: 200, RespHeader: jsonHeader,
			RespBody: []byte(`{}`)}},
	}
	for _, c := range cases {
		err := checkExchange(c.x)
		if err == nil {
			t.Errorf("%s: the check let it through", c.name)
			continue
		}
		t.Logf("%s: caught: %.200s", c.name, err)
	}
	// And what the server really answers passes.
	code, raw := s.request("GET", "/api/v1/webhooks/"+id, nil, s.Token)
	if err := checkExchange(exchange{Method: "GET", URL: u, Header: admin, Status: code, RespHeader: jsonHeader, RespBody: raw}); err != nil {
		t.Errorf("the real answer fails the check: %v", err)
	}
}

// TestUILinksToOpenAPI: the UI's footer links to the document, which opens
// without a token.
func TestUILinksToOpenAPI(t *testing.T) {
	s := newTestServer(t)
	code, page := s.request("GET", "/", nil, "")
	if code != http.StatusOK {
		t.Fatalf("GET /: %d", code)
	}
	m := regexp.MustCompile(`<a id="api-doc" href="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatal("the UI has no link to the API document (a#api-doc)")
	}
	code, doc := s.request("GET", string(m[1]), nil, "")
	if code != http.StatusOK || !strings.Contains(string(doc), `"openapi": "3.1`) {
		t.Fatalf("the UI's link %s answers %d: %.200s", m[1], code, doc)
	}
}
