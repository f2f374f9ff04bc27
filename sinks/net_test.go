package sinks

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	strict := NetPolicy{}
	dev := NetPolicy{AllowHTTP: true, AllowPrivate: true}
	cases := []struct {
		name    string
		policy  NetPolicy
		url     string
		wantErr string // "" means allowed
	}{
		{"a public https URL is allowed", strict, "https://hooks.example.com/in?x=1", ""},
		{"surrounding spaces are ignored", strict, "  https://hooks.example.com/in  ", ""},
		{"plain http is refused by default", strict, "http://hooks.example.com/in", "https"},
		{"plain http is allowed with AllowHTTP", NetPolicy{AllowHTTP: true}, "http://hooks.example.com/in", ""},
		{"ftp is refused even with AllowHTTP", dev, "ftp://files.example.com/in", "https"},
		{"a javascript: URL is refused", dev, "javascript:alert(1)", "absolute URL"},
		{"a relative URL is refused", dev, "/hooks/in", "absolute URL"},
		{"credentials in the URL are refused", strict, "https://user:pass@hooks.example.com/in", "credentials"},
		{"credentials are refused even in dev mode", dev, "https://user@hooks.example.com/in", "credentials"},
		{"localhost is refused", strict, "https://localhost/in", "localhost"},
		{"a name under .localhost is refused", strict, "https://app.localhost:8443/in", "localhost"},
		{"127.0.0.1 is refused", strict, "https://127.0.0.1:8080/in", "private"},
		{"a loopback refusal names the setting that allows it", strict, "https://127.0.0.1:8080/in", "HERALD_ALLOW_PRIVATE_NETWORKS"},
		{"a localhost refusal names the setting that allows it", strict, "https://localhost/in", "HERALD_ALLOW_PRIVATE_NETWORKS"},
		{"IPv6 loopback is refused", strict, "https://[::1]/in", "private"},
		{"a private 10/8 address is refused", strict, "https://10.0.0.1/in", "private"},
		{"a private 192.168/16 address is refused", strict, "https://192.168.1.10/in", "private"},
		{"the cloud metadata address is refused", strict, "https://169.254.169.254/latest/meta-data", "private"},
		{"IPv4-mapped loopback is refused", strict, "https://[::ffff:127.0.0.1]/in", "private"},
		{"the unspecified address is refused", strict, "https://0.0.0.0/in", "private"},
		{"a public IP literal is allowed", strict, "https://93.184.215.14/in", ""},
		{"loopback in octal is refused", strict, "https://0177.0.0.1/in", "private"},
		{"loopback as one decimal number is refused", strict, "https://2130706433/in", "private"},
		{"loopback with parts left out is refused", strict, "https://127.1/in", "private"},
		{"loopback in hex with parts left out is refused", strict, "https://0x7f.1/in", "private"},
		{"loopback as one hex number is refused", strict, "https://0x7f000001/in", "private"},
		{"the metadata address as one number is refused", strict, "https://2852039166/in", "private"},
		{"private 10/8 in mixed spellings is refused", strict, "https://012.0x0.1/in", "private"},
		{"a trailing dot does not hide localhost", strict, "https://localhost./in", "localhost"},
		{"a trailing dot does not hide loopback", strict, "https://127.0.0.1./in", "private"},
		{"a public address in an odd spelling must be written plainly", strict, "https://0x5db8d70e/in", "93.184.215.14"},
		{"a name with digits is still a name", strict, "https://1password.example/in", ""},
		{"a digit-only label too long for an address is a name", strict, "https://1.2.3.4.5/in", ""},
		{"localhost is allowed with AllowPrivate", dev, "http://localhost:8080/in", ""},
		{"127.0.0.1 is allowed with AllowPrivate", dev, "https://127.0.0.1/in", ""},
		{"the metadata address is allowed with AllowPrivate", dev, "http://169.254.169.254/", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.CheckURL(tc.url)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want nil", tc.url, err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "url" {
				t.Fatalf("CheckURL(%q) = %v, want a ValidationError on url", tc.url, err)
			}
			if !strings.Contains(ve.Message, tc.wantErr) {
				t.Errorf("message %q should mention %q", ve.Message, tc.wantErr)
			}
		})
	}
}

// countingServer is a receiver on 127.0.0.1 that counts what reaches it.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestGuardedClientRefusesPrivateTargetsAtDialTime(t *testing.T) {
	srv, hits := countingServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	p := func(host string) string { return "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/hook" }
	client := NewHTTPClient(NetPolicy{AllowHTTP: true}, 2*time.Second)

	cases := []struct {
		name string
		url  string
		ipv6 bool
	}{
		{"IPv4 loopback", p("127.0.0.1"), false},
		{"IPv6 loopback", p("::1"), true},
		{"IPv4-mapped IPv6 loopback", p("::ffff:127.0.0.1"), false},
		{"a name that resolves to loopback", p("localhost"), false},
		{"a private 10/8 address", "http://10.0.0.1/hook", false},
		{"the cloud metadata address", "http://169.254.169.254/latest/meta-data", false},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is refused before connecting", func(t *testing.T) {
			if tc.ipv6 && !haveIPv6Loopback() {
				t.Skip("no IPv6 loopback here")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, tc.url, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("request to %s went through", tc.url)
			}
			if !errors.Is(err, ErrBlockedTarget) {
				t.Errorf("error = %v, want it to wrap ErrBlockedTarget", err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback receiver got %d requests, want none", n)
	}

	t.Run("with AllowPrivate the loopback request goes through", func(t *testing.T) {
		open := NewHTTPClient(NetPolicy{AllowHTTP: true, AllowPrivate: true}, 2*time.Second)
		resp, err := open.Post(p("127.0.0.1"), "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatalf("Post: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
			t.Errorf("status %d, receiver hits %d; want 200 and 1", resp.StatusCode, hits.Load())
		}
	})
}

func TestGuardedClientUsesNoProxyFromTheEnvironment(t *testing.T) {
	// A proxy would make the connection for us, so the dial guard would only
	// ever see the proxy's address.
	for _, policy := range []NetPolicy{{}, {AllowHTTP: true, AllowPrivate: true}} {
		tr, ok := NewHTTPClient(policy, time.Second).Transport.(*http.Transport)
		if !ok {
			t.Fatalf("transport is %T, want *http.Transport", NewHTTPClient(policy, time.Second).Transport)
		}
		// Checked on the transport: http.ProxyFromEnvironment reads the
		// environment once per process, so a request could not tell.
		if tr.Proxy != nil {
			t.Errorf("policy %+v: the transport has a Proxy func; requests could bypass the dial guard", policy)
		}
	}
}

func TestGuardedClientDoesNotFollowRedirects(t *testing.T) {
	target, hits := countingServer(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)

	resp, err := NewHTTPClient(NetPolicy{AllowHTTP: true, AllowPrivate: true}, 2*time.Second).Get(srv.URL)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || hits.Load() != 0 {
		t.Errorf("status %d and %d hits on the Location, want 307 and none", resp.StatusCode, hits.Load())
	}
}

func haveIPv6Loopback() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}
