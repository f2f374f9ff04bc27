//go:build imagetest

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/sinks"
)

// TestImageSmoke starts the container image that .ci/image-test built
// (HERALD_IMAGE, run with HERALD_PODMAN and HERALD_PODMAN_RUN_FLAGS) and
// checks that it serves /healthz, delivers an event to a receiver, runs as
// a user other than root, and lists the example plugins. `make image-test`
// builds the image and runs this test; plain `go test ./...` does not.
func TestImageSmoke(t *testing.T) {
	image := os.Getenv("HERALD_IMAGE")
	engine := strings.Fields(os.Getenv("HERALD_PODMAN"))
	if image == "" || len(engine) == 0 {
		t.Fatal("HERALD_IMAGE and HERALD_PODMAN must be set: run make image-test")
	}
	podman := func(args ...string) (string, error) {
		cmd := exec.Command(engine[0], append(engine[1:], args...)...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}

	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer rc.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const token = "image-test-admin-token"
	name := "herald-image-test-" + strconv.Itoa(os.Getpid())
	args := []string{"run", "-d", "--rm", "--pull=never", "--network=host", "--name", name,
		"-e", "HERALD_LISTEN=" + addr, "-e", "HERALD_ADMIN_TOKEN=" + token,
		"-e", "HERALD_ALLOW_HTTP=true", "-e", "HERALD_ALLOW_PRIVATE_NETWORKS=true"}
	args = append(args, strings.Fields(os.Getenv("HERALD_PODMAN_RUN_FLAGS"))...)
	if out, err := podman(append(args, image)...); err != nil {
		t.Fatalf("podman run: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := podman("logs", name)
			t.Logf("container log:\n%s", out)
		}
		_, _ = podman("rm", "-f", name)
	})

	base := "http://" + addr
	call := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, r)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, raw)
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m
	}

	t.Run("healthz answers 200", func(t *testing.T) {
		deadline := time.Now().Add(90 * time.Second)
		for {
			resp, err := http.Get(base + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("/healthz not 200 within 90s: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("it runs as a user other than root", func(t *testing.T) {
		out, err := podman("exec", name, "sh", "-c", "id -u; awk '/^Uid:/ {print $2}' /proc/1/status")
		if err != nil {
			t.Fatalf("podman exec: %v: %s", err, out)
		}
		for _, uid := range strings.Fields(out) {
			if uid == "0" {
				t.Fatalf("uid of the shell and of herald (pid 1): %q; want not root", out)
			}
		}
		t.Logf("uids: %s", strings.Join(strings.Fields(out), ", "))
	})

	t.Run("the example plugins are listed and running", func(t *testing.T) {
		m := call("GET", "/api/v1/plugins", nil, http.StatusOK)
		found := map[string]bool{}
		for _, p := range m["data"].([]any) {
			p := p.(map[string]any)
			if p["running"] == true {
				found[p["name"].(string)] = true
			}
		}
		for _, want := range []string{"jsonl", "discord"} {
			if !found[want] {
				t.Errorf("plugin %s is not listed as running: %v", want, m["data"])
			}
		}
	})

	t.Run("an event reaches a receiver, signed", func(t *testing.T) {
		hook := call("POST", "/api/v1/webhooks", map[string]any{"url": rc.URL + "/hook", "events": []string{"contact_created"}}, http.StatusCreated)
		ev := call("POST", "/api/v1/events", map[string]any{"event": "contact_created", "data": map[string]any{"contact": map[string]any{"id": "ct_image"}}}, http.StatusAccepted)
		select {
		case r := <-got:
			body := <-bodies
			ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
			if r.Header.Get("webhook-id") != ev["id"] || !sinks.Verify(hook["secret"].(string), ev["id"].(string), ts, body, r.Header.Get("webhook-signature")) {
				t.Errorf("the delivery is not the event, signed with the webhook's secret: %v %s", r.Header, body)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the event did not reach the receiver within 30s")
		}
	})

	t.Run("the OpenAPI document is served", func(t *testing.T) {
		resp, err := http.Get(base + "/api/v1/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v1/openapi.json: %d", resp.StatusCode)
		}
	})
}
