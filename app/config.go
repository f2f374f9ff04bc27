package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/robfig/cron/v3"
)

// Defaults, with the reason for each.
const (
	DefaultListen         = "127.0.0.1:8080" // loopback: exposing it is the operator's choice
	DefaultDataDir        = "./data"
	DefaultRetrySchedule  = "5s,1m,5m,30m,2h,6h,12h,24h,24h" // ~3 days, like Svix and Stripe
	DefaultTimeout        = 10 * time.Second                 // GitHub's limit; receivers expect it
	DefaultBodyLimit      = 256 << 10                        // an event is a notification, not a file upload
	DefaultWorkers        = 128                              // shared pool; most time is spent waiting on receivers
	DefaultPerWebhook     = 16                               // one slow receiver can hold at most this many workers
	DefaultProbeInterval  = 30 * time.Second                 // a receiver that comes back is noticed this fast, at one request per interval
	DefaultReconcile      = "@every 1m"
	DefaultRetention      = 30 * 24 * time.Hour
	DefaultDisableAfter   = 5 * 24 * time.Hour // a webhook failing this long with no success is switched off
	DefaultSummaryTimeout = 20 * time.Second
	DefaultMemoryMessages = 50                  // messages of a conversation read per contact
	DefaultMemoryAge      = 30 * 24 * time.Hour // and how old they may be
)

// Config is everything Herald reads from TOML and the environment.
type Config struct {
	Listen               string `toml:"listen"`
	DataDir              string `toml:"data_dir"`
	AdminToken           string `toml:"admin_token"`
	AllowHTTP            bool   `toml:"allow_http"`
	AllowPrivateNetworks bool   `toml:"allow_private_networks"`
	Sync                 string `toml:"sync"`
	BodyLimit            int    `toml:"body_limit"`
	LogLevel             string `toml:"log_level"`
	MetricsToken         string `toml:"metrics_token"` // when set, /metrics needs it as a bearer token
	DatabaseURL          string `toml:"database_url"`  // postgres://…: PostgreSQL, shared by several nodes; empty: SQLite in DataDir

	Delivery  DeliveryConfig  `toml:"delivery"`
	Slack     SlackConfig     `toml:"slack"`
	Summary   SummaryConfig   `toml:"summary"`
	Reconcile ReconcileConfig `toml:"reconcile"`
	Plugins   PluginsConfig   `toml:"plugins"`
}

type DeliveryConfig struct {
	RetrySchedule string   `toml:"retry_schedule"`
	Timeout       Duration `toml:"timeout"`
	Workers       int      `toml:"workers"`
	PerWebhook    int      `toml:"per_webhook_concurrency"`
	ProbeInterval Duration `toml:"probe_interval"` // how often a failing webhook is tried with its oldest undelivered delivery
}

type SlackConfig struct {
	APIURL   string `toml:"api_url"`
	BotToken string `toml:"bot_token"`
	// Where the operator hears that a webhook was disabled: an incoming-
	// webhook URL, or a channel posted to with the bot token.
	AlertURL     string `toml:"alert_url"`
	AlertChannel string `toml:"alert_channel"`
}

type SummaryConfig struct {
	URL         string   `toml:"url"`
	Model       string   `toml:"model"`
	APIKey      string   `toml:"api_key"`
	Timeout     Duration `toml:"timeout"`
	MaxMessages int      `toml:"max_messages"`
	MaxAge      Duration `toml:"max_age"`
}

type ReconcileConfig struct {
	Schedule     string   `toml:"schedule"`
	SourceURL    string   `toml:"source_url"`
	SourceToken  string   `toml:"source_token"`
	Retention    Duration `toml:"retention"`
	DisableAfter Duration `toml:"disable_after"`
}

type PluginsConfig struct {
	Dir    string            `toml:"dir"`
	SHA256 map[string]string `toml:"sha256"`
}

// Duration reads Go durations ("10s", "24h") from TOML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	d.Duration = v
	return err
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// DefaultConfig is what `go run .` uses with no file and no environment.
func DefaultConfig() Config {
	return Config{
		Listen:    DefaultListen,
		DataDir:   DefaultDataDir,
		Sync:      "normal",
		BodyLimit: DefaultBodyLimit,
		LogLevel:  "info",
		Delivery: DeliveryConfig{
			RetrySchedule: DefaultRetrySchedule,
			Timeout:       Duration{DefaultTimeout},
			Workers:       DefaultWorkers,
			PerWebhook:    DefaultPerWebhook,
			ProbeInterval: Duration{DefaultProbeInterval},
		},
		Summary:   SummaryConfig{Timeout: Duration{DefaultSummaryTimeout}, MaxMessages: DefaultMemoryMessages, MaxAge: Duration{DefaultMemoryAge}},
		Reconcile: ReconcileConfig{Schedule: DefaultReconcile, Retention: Duration{DefaultRetention}, DisableAfter: Duration{DefaultDisableAfter}},
	}
}

// LoadConfig reads the TOML file at path (if not empty) over the defaults,
// then applies environment overrides from getenv, then validates.
func LoadConfig(path string, getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		md, err := toml.DecodeFile(path, &cfg)
		if err != nil {
			return cfg, fmt.Errorf("read config %s: %w", path, err)
		}
		if undec := md.Undecoded(); len(undec) > 0 {
			return cfg, fmt.Errorf("read config %s: unknown key %q", path, undec[0].String())
		}
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// envVars maps each environment variable to the key it overrides. The names
// in DESIGN.md §2 are part of the contract.
func (c *Config) envVars() []envVar {
	return []envVar{
		{"HERALD_LISTEN", strVar(&c.Listen)},
		{"HERALD_DATA_DIR", strVar(&c.DataDir)},
		{"HERALD_ADMIN_TOKEN", strVar(&c.AdminToken)},
		{"HERALD_ALLOW_HTTP", boolVar(&c.AllowHTTP)},
		{"HERALD_ALLOW_PRIVATE_NETWORKS", boolVar(&c.AllowPrivateNetworks)},
		{"HERALD_SYNC", strVar(&c.Sync)},
		{"HERALD_BODY_LIMIT", intVar(&c.BodyLimit)},
		{"HERALD_LOG_LEVEL", strVar(&c.LogLevel)},
		{"HERALD_METRICS_TOKEN", strVar(&c.MetricsToken)},
		{"HERALD_DATABASE_URL", strVar(&c.DatabaseURL)},
		{"HERALD_RETRY_SCHEDULE", strVar(&c.Delivery.RetrySchedule)},
		{"HERALD_DELIVERY_TIMEOUT", durVar(&c.Delivery.Timeout)},
		{"HERALD_DELIVERY_WORKERS", intVar(&c.Delivery.Workers)},
		{"HERALD_PER_WEBHOOK_CONCURRENCY", intVar(&c.Delivery.PerWebhook)},
		{"HERALD_PROBE_INTERVAL", durVar(&c.Delivery.ProbeInterval)},
		{"HERALD_SLACK_API_URL", strVar(&c.Slack.APIURL)},
		{"HERALD_SLACK_BOT_TOKEN", strVar(&c.Slack.BotToken)},
		{"HERALD_SLACK_ALERT_URL", strVar(&c.Slack.AlertURL)},
		{"HERALD_SLACK_ALERT_CHANNEL", strVar(&c.Slack.AlertChannel)},
		{"HERALD_SUMMARY_URL", strVar(&c.Summary.URL)},
		{"HERALD_SUMMARY_MODEL", strVar(&c.Summary.Model)},
		{"HERALD_SUMMARY_API_KEY", strVar(&c.Summary.APIKey)},
		{"HERALD_SUMMARY_TIMEOUT", durVar(&c.Summary.Timeout)},
		{"HERALD_SUMMARY_MAX_MESSAGES", intVar(&c.Summary.MaxMessages)},
		{"HERALD_SUMMARY_MAX_AGE", durVar(&c.Summary.MaxAge)},
		{"HERALD_RECONCILE_SCHEDULE", strVar(&c.Reconcile.Schedule)},
		{"HERALD_SOURCE_URL", strVar(&c.Reconcile.SourceURL)},
		{"HERALD_SOURCE_TOKEN", strVar(&c.Reconcile.SourceToken)},
		{"HERALD_RETENTION", durVar(&c.Reconcile.Retention)},
		{"HERALD_DISABLE_AFTER", durVar(&c.Reconcile.DisableAfter)},
		{"HERALD_PLUGIN_DIR", strVar(&c.Plugins.Dir)},
	}
}

type envVar struct {
	name string
	set  func(string) error
}

func strVar(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
func boolVar(p *bool) func(string) error {
	return func(v string) (err error) { *p, err = strconv.ParseBool(v); return err }
}
func intVar(p *int) func(string) error {
	return func(v string) (err error) { *p, err = strconv.Atoi(v); return err }
}
func durVar(p *Duration) func(string) error {
	return func(v string) error { return p.UnmarshalText([]byte(v)) }
}

// applyEnv sets every key whose variable is present. NAME_FILE reads the
// value from a file, for secrets mounted by Docker or Kubernetes.
func (c *Config) applyEnv(getenv func(string) string) error {
	for _, ev := range c.envVars() {
		v := getenv(ev.name)
		if f := getenv(ev.name + "_FILE"); f != "" && v == "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("%s_FILE: %w", ev.name, err)
			}
			v = strings.TrimSpace(string(b))
		}
		if v == "" {
			continue
		}
		if err := ev.set(strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("%s: invalid value: %w", ev.name, err)
		}
	}
	return nil
}

// Validate checks the whole config and says what to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: must not be empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("database_url: must start with postgres:// (or be empty for SQLite in data_dir)"))
	}
	if c.Sync != "normal" && c.Sync != "full" {
		errs = append(errs, fmt.Errorf("sync: %q is not normal or full", c.Sync))
	}
	if c.BodyLimit < 1024 {
		errs = append(errs, errors.New("body_limit: must be at least 1024 bytes"))
	}
	if _, err := ParseRetrySchedule(c.Delivery.RetrySchedule); err != nil {
		errs = append(errs, fmt.Errorf("delivery.retry_schedule: %w", err))
	}
	if c.Delivery.Timeout.Duration <= 0 {
		errs = append(errs, errors.New("delivery.timeout: must be positive"))
	}
	if c.Delivery.ProbeInterval.Duration < 100*time.Millisecond {
		errs = append(errs, errors.New("delivery.probe_interval: must be at least 100ms"))
	}
	if c.Delivery.Workers < 1 || c.Delivery.PerWebhook < 1 {
		errs = append(errs, errors.New("delivery.workers and delivery.per_webhook_concurrency: must be at least 1"))
	}
	if _, err := cron.ParseStandard(c.Reconcile.Schedule); err != nil {
		errs = append(errs, fmt.Errorf("reconcile.schedule: %w", err))
	}
	if c.Reconcile.Retention.Duration < time.Hour {
		errs = append(errs, errors.New("reconcile.retention: must be at least 1h"))
	}
	if c.Reconcile.DisableAfter.Duration <= 0 {
		errs = append(errs, errors.New("reconcile.disable_after: must be positive"))
	}
	if c.Summary.MaxMessages < 1 {
		errs = append(errs, errors.New("summary.max_messages: must be at least 1"))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level: %q is not debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// PluginDir is where sink plugins are looked for.
func (c *Config) PluginDir() string {
	if c.Plugins.Dir != "" {
		return c.Plugins.Dir
	}
	return filepath.Join(c.DataDir, "plugins")
}

// ParseRetrySchedule reads "5s,1m,5m": N durations give N+1 attempts.
func ParseRetrySchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, err
		}
		if d <= 0 {
			return nil, fmt.Errorf("%q: durations must be positive", part)
		}
		out = append(out, d)
	}
	if len(out) > 50 {
		return nil, errors.New("at most 50 retries")
	}
	return out, nil
}
