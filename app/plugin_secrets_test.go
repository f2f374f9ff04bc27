package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPluginSecretsStaySecret(t *testing.T) {
	pluginDir := t.TempDir()
	buildPlugin(t, pluginDir, "discord")
	buildTestPlugin(t, pluginDir, "crashy")
	s, logs := newLoggedTestServer(t, func(c *Config) { c.Plugins.Dir = pluginDir; c.Delivery.RetrySchedule = "1h" })
	rc := newReceiver(t)
	const token = "tok-secret-abcdef123456"
	hookURL := rc.URL + "/api/webhooks/1/" + token

	created := s.must("POST", "/api/v1/webhooks", map[string]any{"sink": "plugin", "plugin": "discord",
		"config": map[string]any{"webhook_url": hookURL}, "events": []string{"*"}}, 201)
	id := created["id"].(string)
	masked := SecretMask + "3456"

	t.Run("every API read shows the mask", func(t *testing.T) {
		reads := map[string]map[string]any{
			"create": created,
			"get":    s.must("GET", "/api/v1/webhooks/"+id, nil, 200),
			"list":   s.must("GET", "/api/v1/webhooks", nil, 200)["data"].([]any)[0].(map[string]any),
		}
		for name, w := range reads {
			if got := w["config"].(map[string]any)["webhook_url"]; got != masked {
				t.Errorf("%s shows webhook_url %q, want %q", name, got, masked)
			}
		}
	})
	t.Run("saving the mask back keeps the stored value", func(t *testing.T) {
		read := s.must("GET", "/api/v1/webhooks/"+id, nil, 200)
		config := read["config"].(map[string]any)
		config["username"] = "Bot"
		updated := s.must("PATCH", "/api/v1/webhooks/"+id, map[string]any{"config": config}, 200)
		if got := updated["config"].(map[string]any)["webhook_url"]; got != masked {
			t.Errorf("update answer shows %q", got)
		}
		h, err := s.App.store.FindWebhookByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if h.Config["webhook_url"] != hookURL || h.Config["username"] != "Bot" {
			t.Fatalf("stored config = %v", h.Config)
		}
		s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "c_1"}})
		if got := rc.next(t, 10*time.Second); !strings.Contains(string(got.Body), "Bot") {
			t.Errorf("the plugin posted %s", got.Body)
		}
	})
	t.Run("a new value replaces the stored one", func(t *testing.T) {
		s.must("PATCH", "/api/v1/webhooks/"+id, map[string]any{"config": map[string]any{"webhook_url": hookURL + "x"}}, 200)
		h, _ := s.App.store.FindWebhookByID(context.Background(), id)
		if h.Config["webhook_url"] != hookURL+"x" {
			t.Errorf("stored webhook_url = %v", h.Config["webhook_url"])
		}
	})
	t.Run("bad config values are a 422 naming the field", func(t *testing.T) {
		for _, tt := range []struct {
			config       map[string]any
			field, words string
		}{
			{map[string]any{"webhook_url": 5}, "config.webhook_url", "must be a string"},
			{map[string]any{"webhook_url": hookURL, "colour": "red"}, "config.colour", "is not a setting"},
		} {
			code, body := s.do("POST", "/api/v1/webhooks", map[string]any{"sink": "plugin", "plugin": "discord", "config": tt.config, "events": []string{"*"}})
			e, _ := body["error"].(map[string]any)
			if code != 422 || e["field"] != tt.field || !strings.Contains(e["message"].(string), tt.words) {
				t.Errorf("config %v: %d %v, want 422 on %s saying %q", tt.config, code, body, tt.field, tt.words)
			}
		}
	})

	t.Run("plugin errors are stored and logged without secrets", func(t *testing.T) {
		const secret = "tok-7f3a9c1e55-leaky"
		leaky, _ := s.createWebhook(map[string]any{"sink": "plugin", "plugin": "crashy", "events": []string{"*"},
			"config": map[string]any{"path": filepath.Join(t.TempDir(), "out"), "token": secret}})
		s.ingest("contact_created", map[string]any{"contact": map[string]any{"id": "c_2"}, "mode": "leak"})
		var d map[string]any
		eventually(t, 10*time.Second, "the leaky attempt recorded", func() bool {
			list := s.must("GET", "/api/v1/webhooks/"+leaky+"/deliveries", nil, 200)["data"].([]any)
			if len(list) == 0 {
				return false
			}
			d = s.must("GET", "/api/v1/deliveries/"+list[0].(map[string]any)["id"].(string), nil, 200)
			attempts, _ := d["attempts"].([]any)
			return len(attempts) > 0
		})
		attemptErr := d["attempts"].([]any)[0].(map[string]any)["error"].(string)
		if !strings.Contains(attemptErr, "[redacted]") {
			t.Errorf("attempt error = %q, want it redacted", attemptErr)
		}
		eventually(t, 5*time.Second, "the failure logged", func() bool { return strings.Contains(logs.String(), "Delivery failed") })
		for _, leak := range []string{secret, "hunter2", "k3y-in-query", token} {
			if strings.Contains(attemptErr, leak) || strings.Contains(d["last_error"].(string), leak) {
				t.Errorf("stored error reveals %s: %q", leak, attemptErr)
			}
			if strings.Contains(logs.String(), leak) {
				t.Errorf("the log reveals %s", leak)
			}
		}
	})
}
