package store

import "testing"

// The trim threshold is set through mallopt, which exists only in glibc:
// the builds Herald ships (Debian, the Dockerfile) use glibc.
func TestMallocTrimThresholdIsSet(t *testing.T) {
	if !setMallocTrim(mallocTrimThreshold) {
		t.Fatal("mallopt(M_TRIM_THRESHOLD) refused: SQLite's memory goes back to the kernel after every commit")
	}
}

func TestMallocTuningLeavesTheOperatorsSetting(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"MALLOC_TRIM_THRESHOLD_": "4194304"}, true},
		{map[string]string{"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=65536"}, true},
		{map[string]string{"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, false},
	} {
		if got := mallocTunedByEnv(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("env %v: tuned by env = %v, want %v", c.env, got, c.want)
		}
	}
}
