package sinks

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

// FuzzSignVerify checks the Standard Webhooks signature both ways: what Sign
// makes, Verify accepts (alone or in a rotation list), a changed body or id
// is refused, and Verify never panics on any header or secret.
func FuzzSignVerify(f *testing.F) {
	f.Add([]byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), []byte(`{"test": 2432232314}`), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	f.Add([]byte{}, "", int64(0), []byte{}, "")
	f.Add([]byte{0xff, 0x00}, "evt_1", int64(-1), []byte("\x00\xff"), "v1, v1,,, v2,abc \t v1,=")
	f.Fuzz(func(t *testing.T, key []byte, id string, ts int64, body []byte, header string) {
		secret := SecretPrefix + base64.StdEncoding.EncodeToString(key)
		sig, err := Sign(secret, id, ts, body)
		if err != nil {
			t.Fatalf("Sign with a well-formed secret: %v", err)
		}
		if !strings.HasPrefix(sig, "v1,") || strings.ContainsAny(sig, " \t\r\n") {
			t.Fatalf("signature %q is not one v1 entry", sig)
		}
		if !Verify(secret, id, ts, body, sig) {
			t.Fatal("Verify refused what Sign made")
		}
		if !Verify(secret, id, ts, body, header+" "+sig) || !Verify(secret, id, ts, body, sig+" "+header) {
			t.Fatal("Verify refused the signature inside a space-separated list")
		}
		if Verify(secret, id, ts, append(slices.Clone(body), '!'), sig) || Verify(secret, id+"x", ts, body, sig) {
			t.Fatal("Verify accepted a signature for other content")
		}
		want := slices.Contains(strings.Fields(header), sig)
		if got := Verify(secret, id, ts, body, header); got != want {
			t.Fatalf("Verify(header %q) = %v, want %v", header, got, want)
		}
		_ = Verify(header, id, ts, body, header) // any secret text: false or true, never a panic
		all, err := SignAll([]string{secret, secret}, id, ts, body)
		if err != nil || all != sig+" "+sig {
			t.Fatalf("SignAll = %q, %v; want the signature twice", all, err)
		}
	})
}
