package sdk

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/herald-webhooks/herald/plugins/sdk/protocol"
)

// errBlocked is what the dial guard answers for a refused address.
var errBlocked = errors.New("blocked target: private, loopback, link-local or metadata address")

// policy is the operator's URL policy, which Herald passes in the
// environment. Run outside Herald, it is the strict default.
type policy struct{ allowHTTP, allowPrivate bool }

func policyFromEnv() policy {
	b := func(key string) bool { v, _ := strconv.ParseBool(os.Getenv(key)); return v }
	return policy{allowHTTP: b(protocol.EnvAllowHTTP), allowPrivate: b(protocol.EnvAllowPrivate)}
}

// CheckURL checks a URL setting against the operator's URL policy at save
// time, for Validate: it must be absolute, https (unless the operator
// allows http), without credentials, and not name this machine or a private
// address (unless allowed). An empty raw passes: Required covers it. The
// error names field.
func CheckURL(field, raw string) error {
	if raw == "" {
		return nil
	}
	if msg := policyFromEnv().checkURL(raw); msg != "" {
		return &ValidationError{Field: field, Message: msg}
	}
	return nil
}

func (p policy) checkURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Hostname() == "" {
		return "must be an absolute URL like https://example.com/hook"
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.allowHTTP:
	case u.Scheme == "http":
		return "must use https:// (plain http is allowed only with HERALD_ALLOW_HTTP)"
	default:
		return "must use https://"
	}
	if u.User != nil {
		return "must not contain credentials"
	}
	if p.allowPrivate {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "must not point at this machine (localhost)"
	}
	if ip, err := netip.ParseAddr(host); err == nil && blocked(ip) {
		return "must not point at a private, loopback, link-local or metadata address"
	}
	return ""
}

// dialControl refuses to connect to a blocked address. It runs on the IP
// actually dialled, so DNS rebinding cannot reach internal services.
func dialControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || blocked(ap.Addr()) {
		return fmt.Errorf("%w (%s)", errBlocked, address)
	}
	return nil
}

// The same ranges as the webhook sink's guard (code.dny.dev/ssrf): IPv4
// special-purpose blocks, and for IPv6 anything outside global unicast
// 2000::/3, its special blocks, and NAT64 addresses of blocked IPv4s.
var (
	deniedV4 = prefixes("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24",
		"192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4", "224.0.0.0/4")
	deniedV6 = prefixes("2001::/23", "2001:db8::/32", "2002::/16", "2620:4f:8000::/48", "3fff::/20")
	globalV6 = netip.MustParsePrefix("2000::/3")
	nat64    = netip.MustParsePrefix("64:ff9b::/96")
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func blocked(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is4() {
		for _, p := range deniedV4 {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		return blocked(netip.AddrFrom4([4]byte(b[12:])))
	}
	if !globalV6.Contains(ip) {
		return true
	}
	for _, p := range deniedV6 {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// guardedDialer dials with the guard unless private networks are allowed.
func guardedDialer(p policy, d *net.Dialer) *net.Dialer {
	if !p.allowPrivate {
		d.Control = dialControl
	}
	return d
}
