package web

import (
	"bytes"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// assetRef matches the src/href values that point at hashed assets.
var assetRef = regexp.MustCompile(`(?:src|href)="/assets/([^"]+)"`)

func mustNew(t *testing.T) *UI {
	t.Helper()
	ui, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ui
}

func TestIndex(t *testing.T) {
	ui := mustNew(t)
	index := string(ui.Index())

	t.Run("every script and stylesheet is referenced by its hashed name", func(t *testing.T) {
		files, err := fs.ReadDir(static, "static")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if f.Name() == indexName {
				continue
			}
			if strings.Contains(index, `="`+f.Name()+`"`) {
				t.Errorf("index still refers to %q without a hash", f.Name())
			}
		}
		refs := assetRef.FindAllStringSubmatch(index, -1)
		if len(refs) < 2 {
			t.Fatalf("found %d asset references, want the stylesheet and the scripts", len(refs))
		}
		for _, m := range refs {
			if !regexp.MustCompile(`^[a-z]+\.[0-9a-f]{8}\.(js|css)$`).MatchString(m[1]) {
				t.Errorf("asset name %q is not name.<hash8>.ext", m[1])
			}
			if _, _, ok := ui.Asset(m[1]); !ok {
				t.Errorf("index refers to %q, which Asset does not serve", m[1])
			}
		}
	})

	t.Run("the page has no inline script, style or event handler, so the CSP can forbid them", func(t *testing.T) {
		for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(index, -1) {
			if !strings.Contains(tag, " src=") {
				t.Errorf("inline script %q", tag)
			}
		}
		for _, bad := range []*regexp.Regexp{
			regexp.MustCompile(`<style`),
			regexp.MustCompile(`\sstyle=`),
			regexp.MustCompile(`\son[a-z]+=`),
		} {
			if loc := bad.FindStringIndex(index); loc != nil {
				t.Errorf("index.html has %q, which the CSP blocks", index[loc[0]:loc[1]])
			}
		}
	})

	t.Run("scripts never write API data as markup", func(t *testing.T) {
		files, _ := fs.Glob(static, "static/*.js")
		if len(files) == 0 {
			t.Fatal("no scripts embedded")
		}
		for _, name := range files {
			body, _ := fs.ReadFile(static, name)
			for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
				if bytes.Contains(body, []byte(sink)) {
					t.Errorf("%s uses %s; build nodes and set textContent instead", name, sink)
				}
			}
		}
	})
}

func TestAsset(t *testing.T) {
	ui := mustNew(t)
	index := string(ui.Index())
	byExt := map[string]string{}
	for _, m := range assetRef.FindAllStringSubmatch(index, -1) {
		byExt[m[1][strings.LastIndex(m[1], "."):]] = m[1]
	}

	t.Run("scripts and stylesheets carry their content type", func(t *testing.T) {
		for ext, want := range map[string]string{
			".js":  "text/javascript; charset=utf-8",
			".css": "text/css; charset=utf-8",
		} {
			name, found := byExt[ext]
			if !found {
				t.Fatalf("no %s asset in the index", ext)
			}
			body, ct, ok := ui.Asset(name)
			if !ok || len(body) == 0 {
				t.Fatalf("Asset(%q) = %d bytes, ok %v", name, len(body), ok)
			}
			if ct != want {
				t.Errorf("Asset(%q) content type = %q, want %q", name, ct, want)
			}
		}
	})

	t.Run("unknown, unhashed and wrongly hashed names are not found", func(t *testing.T) {
		for _, name := range []string{"", "nope.js", "app.js", "style.css", "app.00000000.js", "index.html", "../web.go"} {
			if _, _, ok := ui.Asset(name); ok {
				t.Errorf("Asset(%q) was found", name)
			}
		}
	})
}

func TestNewUI(t *testing.T) {
	page := `<link rel="stylesheet" href="style.css"><script src="app.js" defer></script><p>app.js</p>`

	build := func(t *testing.T, js string) *UI {
		t.Helper()
		ui, err := newUI(fstest.MapFS{
			"index.html":  {Data: []byte(page)},
			"app.js":      {Data: []byte(js)},
			"style.css":   {Data: []byte("body{}")},
			"logo.svg":    {Data: []byte("<svg/>")},
			"notes.weird": {Data: []byte("?")},
		})
		if err != nil {
			t.Fatalf("newUI: %v", err)
		}
		return ui
	}

	t.Run("changing a file changes its hashed name and nothing else", func(t *testing.T) {
		a, b := build(t, "one()"), build(t, "two()")
		refA := assetRef.FindAllStringSubmatch(string(a.Index()), -1)
		refB := assetRef.FindAllStringSubmatch(string(b.Index()), -1)
		if len(refA) != 2 || len(refB) != 2 {
			t.Fatalf("references: %v / %v", refA, refB)
		}
		if refA[0][1] != refB[0][1] {
			t.Errorf("style.css hash changed although its content did not: %s vs %s", refA[0][1], refB[0][1])
		}
		if refA[1][1] == refB[1][1] {
			t.Errorf("app.js kept the name %s after its content changed", refA[1][1])
		}
	})

	t.Run("only quoted attribute values are rewritten, not page text", func(t *testing.T) {
		if !strings.Contains(string(build(t, "x").Index()), "<p>app.js</p>") {
			t.Errorf("page text was rewritten: %s", build(t, "x").Index())
		}
	})

	t.Run("other file types get a sensible content type", func(t *testing.T) {
		ui := build(t, "x")
		want := map[string]string{".svg": "image/svg+xml", ".weird": "application/octet-stream"}
		for name := range ui.assets {
			ext := name[strings.LastIndex(name, "."):]
			if w, ok := want[ext]; ok {
				if _, ct, _ := ui.Asset(name); ct != w {
					t.Errorf("Asset(%q) content type = %q, want %q", name, ct, w)
				}
				delete(want, ext)
			}
		}
		if len(want) != 0 {
			t.Errorf("assets not found for %v", want)
		}
	})

	t.Run("a folder without index.html is an error", func(t *testing.T) {
		if _, err := newUI(fstest.MapFS{"app.js": {Data: []byte("x")}}); err == nil {
			t.Error("newUI succeeded without index.html")
		}
	})
}
