package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// apiSpec is the served OpenAPI document, loaded and validated once, with a
// router that finds the operation of a request.
type apiSpec struct {
	doc    *openapi3.T
	router routers.Router
}

var loadAPISpec = sync.OnceValues(func() (*apiSpec, error) {
	raw, err := openAPIDocument()
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("openapi.json is not valid: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	return &apiSpec{doc: doc, router: router}, nil
})

// exchange is one request a test sent and the answer it got.
type exchange struct {
	Method string
	URL    string // absolute, with the query
	Header http.Header
	Body   []byte

	Status     int
	RespHeader http.Header
	RespBody   []byte
}

// checkExchange checks one request and its answer against the document:
// the answer must be one the operation lists, in its documented shape; a
// request the document calls invalid must not succeed; and a request for
// no documented operation must get a 404 or 405 in the error shape.
func checkExchange(x exchange) error {
	spec, err := loadAPISpec()
	if err != nil {
		return err
	}
	ctx := context.Background()
	req, err := http.NewRequestWithContext(ctx, x.Method, x.URL, bytes.NewReader(x.Body))
	if err != nil {
		return fmt.Errorf("openapi: rebuild request: %w", err)
	}
	req.Header = x.Header.Clone()
	route, params, err := findRoute(spec.router, req)
	if err != nil {
		return checkUnrouted(spec.doc, x, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: bearerPresent, IncludeResponseStatus: true, MultiError: false}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr != nil && x.Status < 300 {
		return fmt.Errorf("openapi: %s %s: the document refuses this request (%v) but the API answered %d", x.Method, req.URL.RequestURI(), reqErr, x.Status)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.Status, Header: x.RespHeader, Options: opts}
	out.SetBodyBytes(x.RespBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("openapi: %s %s: the answer %d does not match the document: %v\nbody: %s", x.Method, req.URL.RequestURI(), x.Status, err, clipAnswer(x.RespBody))
	}
	return nil
}

// findRoute finds the operation of req. Fiber matches paths in any case and
// with a trailing slash, so those spellings are looked up as routed.
func findRoute(r routers.Router, req *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := r.FindRoute(req)
	if err == nil {
		return route, params, nil
	}
	alt := req.Clone(req.Context())
	u := *req.URL
	u.Path = strings.TrimSuffix(strings.ToLower(u.Path), "/")
	u.RawPath = ""
	alt.URL = &u
	if route, params, err2 := r.FindRoute(alt); err2 == nil {
		return route, params, nil
	}
	return nil, nil, err
}

// checkUnrouted: a request for no documented operation is a 404 (no such
// path) or a 405 (no such method), in the error shape.
func checkUnrouted(doc *openapi3.T, x exchange, routeErr error) error {
	want := http.StatusNotFound
	if errors.Is(routeErr, routers.ErrMethodNotAllowed) {
		want = http.StatusMethodNotAllowed
	}
	if x.Status != want && !(x.Status == http.StatusMethodNotAllowed && want == http.StatusNotFound) {
		return fmt.Errorf("openapi: %s %s is not in the document (%v), yet the API answered %d", x.Method, x.URL, routeErr, x.Status)
	}
	name := "NotFound"
	if x.Status == http.StatusMethodNotAllowed {
		name = "MethodNotAllowed"
	}
	resp := doc.Components.Responses[name].Value
	schema := resp.Content.Get("application/json").Schema.Value
	var body any
	if err := json.Unmarshal(x.RespBody, &body); err != nil {
		return fmt.Errorf("openapi: %s %s: %d answer is not JSON: %s", x.Method, x.URL, x.Status, clipAnswer(x.RespBody))
	}
	if err := schema.VisitJSON(body, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("openapi: %s %s: %d answer does not match components/responses/%s: %v", x.Method, x.URL, x.Status, name, err)
	}
	return nil
}

// bearerPresent stands in for the server's check: the document asks for a
// bearer token; whether it is valid and its scope are the server's to say
// (401, 403), and the answer is checked against those.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	v, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(v) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

func clipAnswer(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}
