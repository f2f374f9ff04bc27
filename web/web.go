// Package web embeds Herald's browser UI (Settings > Webhooks): plain HTML,
// CSS and JavaScript with no build step. Asset names carry a hash of their
// content, so browsers may cache them forever and still pick up a new release.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strings"
)

// static is read-only: embed.FS cannot be changed after compilation.
//
//go:embed static
var static embed.FS

// indexName is the page served at "/"; every other file is an asset.
const indexName = "index.html"

// hashLen is how many hex digits of the SHA-256 go into an asset name:
// 32 bits is plenty to tell a handful of files' versions apart.
const hashLen = 8

// UI holds the page and its assets, ready to serve.
type UI struct {
	index  []byte
	assets map[string]asset // by hashed name, e.g. "app.1a2b3c4d.js"
}

type asset struct {
	body        []byte
	contentType string
}

// New reads the embedded files and computes their content hashes.
func New() (*UI, error) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	return newUI(sub)
}

// newUI builds a UI from any flat folder holding index.html and its assets.
func newUI(fsys fs.FS) (*UI, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("web: read assets: %w", err)
	}
	ui := &UI{assets: make(map[string]asset)}
	var index string
	var replacements []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("web: read %s: %w", e.Name(), err)
		}
		if e.Name() == indexName {
			index = string(body)
			continue
		}
		hashed := hashedName(e.Name(), body)
		ui.assets[hashed] = asset{body: body, contentType: contentType(e.Name())}
		// Only quoted attribute values are rewritten, so "app.js" never
		// matches inside "myapp.js" or in the page's text.
		replacements = append(replacements, `="`+e.Name()+`"`, `="/assets/`+hashed+`"`)
	}
	if index == "" {
		return nil, errors.New("web: index.html is missing")
	}
	ui.index = []byte(strings.NewReplacer(replacements...).Replace(index))
	return ui, nil
}

// Index is index.html with asset references rewritten to their hashed URLs.
func (u *UI) Index() []byte { return u.index }

// Asset returns a file by its hashed name, as it appears after /assets/.
func (u *UI) Asset(name string) (body []byte, contentType string, ok bool) {
	a, ok := u.assets[name]
	if !ok {
		return nil, "", false
	}
	return a.body, a.contentType, true
}

// hashedName turns "app.js" into "app.<first 8 hex of sha256>.js".
func hashedName(name string, body []byte) string {
	sum := sha256.Sum256(body)
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:hashLen] + ext
}

// contentType names the types the UI uses explicitly, because
// mime.TypeByExtension depends on the host's mime tables for some of them.
func contentType(name string) string {
	switch ext := path.Ext(name); ext {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	case ".json":
		return "application/json"
	case ".woff2":
		return "font/woff2"
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
		return "application/octet-stream"
	}
}
