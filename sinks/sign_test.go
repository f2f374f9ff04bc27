package sinks

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// The test vector published with the Standard Webhooks specification.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = int64(1614265330)
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheStandardWebhooksVector(t *testing.T) {
	got, err := Sign(vectorSecret, vectorID, vectorTimestamp, []byte(vectorBody))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if got != vectorSignature {
		t.Errorf("Sign = %q, want %q", got, vectorSignature)
	}
}

func TestSignRefusesASecretThatIsNotBase64(t *testing.T) {
	if _, err := Sign("whsec_not base64!", vectorID, vectorTimestamp, []byte(vectorBody)); err == nil {
		t.Error("Sign accepted a secret that is not base64")
	}
	if _, err := SignAll([]string{vectorSecret, "whsec_%%%"}, vectorID, vectorTimestamp, []byte(vectorBody)); err == nil {
		t.Error("SignAll accepted a list with a bad secret in it")
	}
}

func TestSignAllAndVerifyDuringRotation(t *testing.T) {
	current, old := NewSecret(), vectorSecret
	body := []byte(vectorBody)
	header, err := SignAll([]string{current, old}, vectorID, vectorTimestamp, body)
	if err != nil {
		t.Fatalf("SignAll: %v", err)
	}

	t.Run("the header holds one v1 signature per secret, separated by a space", func(t *testing.T) {
		sigs := strings.Split(header, " ")
		if len(sigs) != 2 {
			t.Fatalf("header %q has %d signatures, want 2", header, len(sigs))
		}
		for _, s := range sigs {
			if !strings.HasPrefix(s, "v1,") {
				t.Errorf("signature %q lacks the v1, prefix", s)
			}
		}
		if sigs[1] != vectorSignature {
			t.Errorf("the old secret's signature = %q, want %q", sigs[1], vectorSignature)
		}
	})

	cases := []struct {
		name   string
		secret string
		id     string
		ts     int64
		body   string
		want   bool
	}{
		{"a receiver with the current secret accepts it", current, vectorID, vectorTimestamp, vectorBody, true},
		{"a receiver still on the old secret accepts it", old, vectorID, vectorTimestamp, vectorBody, true},
		{"a receiver with some other secret rejects it", NewSecret(), vectorID, vectorTimestamp, vectorBody, false},
		{"a changed body is rejected", current, vectorID, vectorTimestamp, `{"test": 2432232315}`, false},
		{"a body with different spacing is rejected", current, vectorID, vectorTimestamp, `{"test":2432232314}`, false},
		{"a replayed timestamp is rejected", current, vectorID, vectorTimestamp + 1, vectorBody, false},
		{"another message id is rejected", current, "msg_other", vectorTimestamp, vectorBody, false},
		{"a secret that is not base64 is rejected", "whsec_!!!", vectorID, vectorTimestamp, vectorBody, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.secret, tc.id, tc.ts, []byte(tc.body), header); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("an empty or garbage header is rejected", func(t *testing.T) {
		for _, h := range []string{"", "v1,", "v1,AAAA", "v2," + strings.TrimPrefix(vectorSignature, "v1,")} {
			if Verify(old, vectorID, vectorTimestamp, body, h) {
				t.Errorf("Verify accepted header %q", h)
			}
		}
	})
}

func TestNewSecret(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	for i, s := range []string{a, b} {
		t.Run(fmt.Sprintf("secret %d is whsec_ and base64 of at least 24 bytes", i+1), func(t *testing.T) {
			if !strings.HasPrefix(s, "whsec_") {
				t.Fatalf("secret %q lacks the whsec_ prefix", s)
			}
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
			if err != nil {
				t.Fatalf("secret %q is not base64: %v", s, err)
			}
			if len(key) < 24 {
				t.Errorf("secret has %d bytes of key, want at least 24", len(key))
			}
			if _, err := Sign(s, vectorID, vectorTimestamp, []byte(vectorBody)); err != nil {
				t.Errorf("Sign cannot use the new secret: %v", err)
			}
		})
	}
	t.Run("two secrets differ", func(t *testing.T) {
		if a == b {
			t.Errorf("NewSecret returned %q twice", a)
		}
	})
}
