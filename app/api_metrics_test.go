package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestMetricsToken(t *testing.T) {
	get := func(s *testServer, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	t.Run("without a metrics token /metrics is open", func(t *testing.T) {
		s := newTestServer(t)
		if code, body := get(s, ""); code != 200 || !strings.Contains(body, "herald_queue_depth") {
			t.Fatalf("status %d: %.200s", code, body)
		}
	})
	t.Run("with HERALD_METRICS_TOKEN it needs that bearer token", func(t *testing.T) {
		cfg := testConfig(t.TempDir())
		if err := cfg.applyEnv(func(k string) string {
			if k == "HERALD_METRICS_TOKEN" {
				return "metrics-secret"
			}
			return ""
		}); err != nil {
			t.Fatal(err)
		}
		s := startTestServer(t, cfg)
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + testAdminToken, "metrics-secret", "Basic metrics-secret"} {
			code, body := get(s, auth)
			if code != 401 {
				t.Errorf("Authorization %q: status %d, want 401", auth, code)
				continue
			}
			if c, _ := errorOf(t, []byte(body)); c != CodeUnauthorized {
				t.Errorf("code %q, want unauthorized", c)
			}
		}
		if code, body := get(s, "Bearer metrics-secret"); code != 200 || !strings.Contains(body, "herald_queue_depth") {
			t.Fatalf("with the token: status %d: %.200s", code, body)
		}
	})
}
