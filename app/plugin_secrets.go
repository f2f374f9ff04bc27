package app

import (
	"maps"

	"github.com/herald-webhooks/herald/sinks"
)

// SecretMask starts what API reads show for a plugin's secret setting.
const SecretMask = "••••••"

// secretTail is how many last characters of a long secret the mask keeps,
// so a user can tell which token is stored; shorter secrets show none.
const (
	secretTail         = 4
	secretTailMinChars = 16
)

// maskSecret is how a secret value is shown: never in full.
func maskSecret(v string) string {
	r := []rune(v)
	if len(r) < secretTailMinChars {
		return SecretMask
	}
	return SecretMask + string(r[len(r)-secretTail:])
}

// secretKeys says which of a webhook's config keys hold secrets: the
// plugin's secret-typed fields. When the plugin can't say (not installed,
// never started), every key is treated as secret.
func (a *App) secretKeys(h *Webhook) func(key string) bool {
	if h.Sink != "plugin" {
		return func(string) bool { return false }
	}
	if a.extras.plugins != nil {
		for _, p := range a.extras.plugins.List() {
			if p.Name == h.Plugin && len(p.Fields) > 0 {
				secret := map[string]bool{}
				for _, f := range p.Fields {
					secret[f.Name] = f.Secret
				}
				return func(key string) bool { return secret[key] }
			}
		}
	}
	return func(string) bool { return true }
}

// maskedConfig is h.Config as API reads show it: secret values masked.
func (a *App) maskedConfig(h *Webhook) map[string]any {
	isSecret := a.secretKeys(h)
	out := maps.Clone(h.Config)
	for k, v := range out {
		if s, ok := v.(string); ok && s != "" && isSecret(k) {
			out[k] = maskSecret(s)
		}
	}
	return out
}

// keepMaskedSecrets returns the config a save asks for, with every secret
// sent back as its mask replaced by the stored value, so a client can send
// back what it read. stored is the config before the save.
func (a *App) keepMaskedSecrets(h *Webhook, stored, in map[string]any) map[string]any {
	isSecret := a.secretKeys(h)
	out := maps.Clone(in)
	for k, v := range out {
		s, ok := v.(string)
		old, had := stored[k].(string)
		if ok && had && old != "" && isSecret(k) && s == maskSecret(old) {
			out[k] = old
		}
	}
	return out
}

// requestSecrets are the values a delivery error must not show: signing
// secrets and custom header values (they often carry tokens). Plugin
// secrets are removed by the plugin host, URL credentials and queries by
// sinks.Redact.
func requestSecrets(req *sinks.Request) []string {
	if req == nil {
		return nil
	}
	out := append([]string{}, req.Target.Secrets...)
	for _, v := range req.Target.Headers {
		out = append(out, v)
	}
	return out
}
