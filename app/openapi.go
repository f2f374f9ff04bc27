package app

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// openAPISource is the API's OpenAPI 3.1 document, written by hand. The
// tests check every request they send and every answer they get against it
// (openapi_check_test.go), and that it names exactly the routes registered.
//
//go:embed openapi.json
var openAPISource []byte

// openAPIDocument is the document served at GET /api/v1/openapi.json: the
// source with the event catalog's examples added, so they cannot disagree.
var openAPIDocument = sync.OnceValues(func() ([]byte, error) {
	return buildOpenAPI(openAPISource, catalog)
})

// buildOpenAPI adds to doc an ingest example per catalog event and the
// catalog itself as the example answer of GET /event-types.
func buildOpenAPI(src []byte, types []EventType) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	examples := map[string]any{}
	for _, et := range types {
		if et.Name == TestEvent {
			continue // refused by POST /events
		}
		examples[et.Name] = map[string]any{"summary": et.Title, "description": et.Description,
			"value": map[string]any{"event": et.Name, "data": et.Example}}
	}
	ingest, err := jsonAt(doc, "paths", "/events", "post", "requestBody", "content", "application/json")
	if err != nil {
		return nil, err
	}
	ingest["examples"] = examples
	list, err := jsonAt(doc, "paths", "/event-types", "get", "responses", "200", "content", "application/json")
	if err != nil {
		return nil, err
	}
	list["example"] = newList(types, "")
	return json.MarshalIndent(doc, "", "  ")
}

// jsonAt walks decoded JSON objects down keys.
func jsonAt(doc map[string]any, keys ...string) (map[string]any, error) {
	cur := doc
	for i, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("openapi.json: no object at %v", keys[:i+1])
		}
		cur = next
	}
	return cur, nil
}

// handleOpenAPI serves the document; it needs no token (DESIGN.md §6).
func handleOpenAPI(c *fiber.Ctx) error {
	doc, err := openAPIDocument()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(doc)
}
