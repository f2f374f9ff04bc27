package plugins

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestSDKModuleHasNoHostDependency checks what a plugin author pulls in:
// the SDK module builds on go-plugin, gRPC and protobuf alone, and its
// documentation shows only what an author uses.
func TestSDKModuleHasNoHostDependency(t *testing.T) {
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = "sdk"
		cmd.Env = append(cmd.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	t.Run("its packages depend on no host package or library", func(t *testing.T) {
		deps := run("list", "-deps", "./...")
		for _, banned := range []string{"gofiber", "sqlite", "slack-go", "code.dny.dev/ssrf", "robfig/cron", "prometheus",
			"herald-webhooks/herald/app", "herald-webhooks/herald/sinks", "herald-webhooks/herald/web"} {
			if strings.Contains(deps, banned) {
				t.Errorf("the SDK depends on %s", banned)
			}
		}
		for _, line := range strings.Fields(deps) {
			if line == "github.com/herald-webhooks/herald/plugins" {
				t.Error("the SDK depends on the plugin host")
			}
		}
	})
	t.Run("its modules are the SDK's, go-plugin's, gRPC's and protobuf's", func(t *testing.T) {
		mods := strings.Fields(run("list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./..."))
		allowed := []string{"github.com/herald-webhooks/herald/plugins/sdk", "github.com/hashicorp/go-plugin",
			"google.golang.org/grpc", "google.golang.org/protobuf", "google.golang.org/genproto/googleapis/rpc",
			"github.com/golang/protobuf", // go-plugin's own dependencies from here on
			"github.com/hashicorp/go-hclog", "github.com/hashicorp/yamux", "github.com/oklog/run", "github.com/fatih/color",
			"github.com/mattn/go-colorable", "github.com/mattn/go-isatty", "golang.org/x/net", "golang.org/x/sys", "golang.org/x/text"}
		for _, m := range mods {
			if !slices.Contains(allowed, m) {
				t.Errorf("the SDK pulls in module %s", m)
			}
		}
	})
	t.Run("go doc shows an author's names and no host API", func(t *testing.T) {
		doc := run("doc", ".")
		for _, want := range []string{"func Serve(s Sink)", "type Sink interface", "type Config map[string]any", "func HTTPClient() *http.Client",
			"func Permanent(", "func Gone(", "func RetryAfter(", "type ValidationError struct", "type Envelope struct"} {
			if !strings.Contains(doc, want) {
				t.Errorf("go doc lacks %q", want)
			}
		}
		for _, hostName := range []string{"Host", "NewHost", "Client", "Handshake", "PluginSets"} {
			if strings.Contains(doc, "func "+hostName) || strings.Contains(doc, "type "+hostName) {
				t.Errorf("go doc shows %s", hostName)
			}
		}
	})
	t.Run("it is vetted", func(t *testing.T) {
		run("vet", "./...")
	})
	// The SDK is a module of its own, so go test ./... from the root does
	// not reach its tests (its fuzz seeds among them): they run here.
	t.Run("its own tests pass", func(t *testing.T) {
		run("test", "-count=1", "./...")
	})
}
