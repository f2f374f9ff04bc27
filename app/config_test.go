package app

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigExampleIsTheDefault(t *testing.T) {
	cfg, err := LoadConfig("../config.example.toml", func(string) string { return "" })
	if err != nil {
		t.Fatalf("config.example.toml: %v", err)
	}
	want := DefaultConfig()
	want.Plugins.SHA256 = map[string]string{}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config.example.toml differs from the defaults:\n got  %+v\n want %+v", cfg, want)
	}
}

func TestConfigExampleNamesEveryEnvironmentVariable(t *testing.T) {
	b, err := os.ReadFile("../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	for _, ev := range cfg.envVars() {
		if !strings.Contains(string(b), ev.name) {
			t.Errorf("config.example.toml does not mention %s", ev.name)
		}
	}
}

func TestEnvironmentOverridesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "herald.toml")
	if err := os.WriteFile(path, []byte("listen = \"0.0.0.0:9000\"\n[delivery]\ntimeout = \"3s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "token")
	if err := os.WriteFile(secret, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"HERALD_DELIVERY_TIMEOUT":   "7s",
		"HERALD_RETRY_SCHEDULE":     "1s,2s,5s",
		"HERALD_ALLOW_HTTP":         "true",
		"HERALD_SOURCE_URL":         "https://platform.example.com/events",
		"HERALD_ADMIN_TOKEN_FILE":   secret,
		"HERALD_RECONCILE_SCHEDULE": "@every 5m",
	}
	cfg, err := LoadConfig(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:9000" || cfg.Delivery.Timeout.Duration != 7*time.Second || !cfg.AllowHTTP ||
		cfg.Delivery.RetrySchedule != "1s,2s,5s" || cfg.Reconcile.SourceURL == "" || cfg.AdminToken != "from-file" ||
		cfg.Reconcile.Schedule != "@every 5m" {
		t.Fatalf("config = %+v", cfg)
	}
}

func TestConfigRefusesBadValues(t *testing.T) {
	cases := map[string]string{
		"HERALD_SYNC":               "sometimes",
		"HERALD_RETRY_SCHEDULE":     "5s,soon",
		"HERALD_DELIVERY_TIMEOUT":   "fast",
		"HERALD_ALLOW_HTTP":         "maybe",
		"HERALD_RECONCILE_SCHEDULE": "every minute",
	}
	for name, value := range cases {
		t.Run(name+" is refused", func(t *testing.T) {
			_, err := LoadConfig("", func(k string) string {
				if k == name {
					return value
				}
				return ""
			})
			if err == nil {
				t.Fatalf("%s=%q was accepted", name, value)
			}
		})
	}
	t.Run("an unknown key in the file is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.toml")
		_ = os.WriteFile(path, []byte("listne = \"x\"\n"), 0o600)
		if _, err := LoadConfig(path, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "listne") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRetrySchedule(t *testing.T) {
	d, err := ParseRetrySchedule(DefaultRetrySchedule)
	if err != nil || len(d) != 9 || d[0] != 5*time.Second || d[8] != 24*time.Hour {
		t.Fatalf("default schedule = %v, %v", d, err)
	}
	var total time.Duration
	for _, x := range d {
		total += x
	}
	if total < 60*time.Hour || total > 80*time.Hour {
		t.Fatalf("default schedule spans %s, want about 3 days", total)
	}
}
