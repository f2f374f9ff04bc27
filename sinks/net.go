package sinks

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// NetPolicy says which targets a URL entered by an API user may reach.
// The zero value is the safe default: HTTPS only, public addresses only.
type NetPolicy struct {
	AllowHTTP    bool // HERALD_ALLOW_HTTP: plain http:// targets (dev/test)
	AllowPrivate bool // HERALD_ALLOW_PRIVATE_NETWORKS: loopback/private/link-local targets
}

// CheckURL validates a user-entered target URL before it is saved. The dial
// guard in NewHTTPClient is the real protection: this only gives a clear
// early error for what can be known without DNS.
func (p NetPolicy) CheckURL(raw string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return &ValidationError{Field: "url", Message: "must be an absolute URL like https://example.com/hook"}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowHTTP {
			return &ValidationError{Field: "url", Message: "must use https:// (plain http is allowed only with HERALD_ALLOW_HTTP)"}
		}
	default:
		return &ValidationError{Field: "url", Message: "must use https://"}
	}
	if u.User != nil {
		return &ValidationError{Field: "url", Message: "must not contain credentials; use custom headers instead"}
	}
	if p.AllowPrivate {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return &ValidationError{Field: "url", Message: "must not point at this machine (localhost); set HERALD_ALLOW_PRIVATE_NETWORKS=true to allow it for development"}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// 127.1, 0177.0.0.1, 2130706433, 0x7f.1: resolvers that follow
		// inet_aton read these as addresses, so they are judged as such.
		var numeric bool
		if ip, numeric = parseLooseIPv4(host); !numeric {
			return nil
		}
	}
	if err := guardian().SafeAddr(ip.Unmap()); err != nil {
		return &ValidationError{Field: "url", Message: blockedMessage}
	}
	if ip.Is4() && ip.String() != host {
		return &ValidationError{Field: "url", Message: "write an IPv4 address as four decimal numbers, like " + ip.String()}
	}
	return nil
}

const blockedMessage = "must not point at a private, loopback, link-local or metadata address; set HERALD_ALLOW_PRIVATE_NETWORKS=true to allow it for development"

// parseLooseIPv4 reads host the way inet_aton does: one to four parts,
// each decimal, octal (leading 0) or hex (0x), the last filling the
// remaining bytes. ok is false for anything that is not all numeric.
func parseLooseIPv4(host string) (ip netip.Addr, ok bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			base, p = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// MaxResponseHeaderBytes caps a receiver's response headers. Real receivers
// send a few hundred bytes; Go's default (about 10 MB) let a hostile one cost
// a core per attempt.
const MaxResponseHeaderBytes = 64 << 10

// ErrBlockedTarget is returned (wrapped) when the dial guard refuses an address.
var ErrBlockedTarget = errors.New("blocked target: private, loopback, link-local or metadata address (HERALD_ALLOW_PRIVATE_NETWORKS allows it)")

func guardian() *ssrf.Guardian { return ssrf.New(ssrf.WithAnyPort()) }

// NewHTTPClient returns the client used for user-entered URLs: no proxy from
// the environment, no redirects, and (unless AllowPrivate) a guard that checks
// the IP actually dialled, so DNS rebinding cannot reach internal services.
func NewHTTPClient(p NetPolicy, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !p.AllowPrivate {
		g := guardian()
		dialer.Control = func(network, address string, c syscall.RawConn) error {
			if err := g.Safe(network, address, c); err != nil {
				return fmt.Errorf("%w (%s)", ErrBlockedTarget, address)
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:                  nil, // a proxy would dial for us and bypass the guard
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is a failure, never followed
		},
	}
}
