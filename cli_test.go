package main

// Tests of the command line on the built binary: help and unknown words
// touch nothing, and backup copies a live database consistently.

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runHerald runs bin with args in dir and returns stdout, stderr and the exit code.
func runHerald(t *testing.T, bin, dir string, vars map[string]string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = heraldEnv(vars)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	default:
		t.Fatalf("run herald %v: %v", args, err)
		return "", "", 0
	}
}

func TestCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHerald(t)
	cases := []struct {
		args       []string
		wantCode   int
		wantStdout string // a piece of it; "" means empty
		wantStderr string
	}{
		{[]string{"help"}, 0, "herald backup", ""},
		{[]string{"-h"}, 0, "herald backup", ""},
		{[]string{"--help"}, 0, "herald backup", ""},
		{[]string{"version"}, 0, "herald ", ""},
		{[]string{"anything"}, 2, "", `unknown command "anything"`},
		{[]string{"--nope"}, 2, "", "Usage:"},
		{[]string{"serve", "extra"}, 2, "", "Usage:"},
		{[]string{"backup"}, 2, "", "exactly one FILE"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			work := t.TempDir()
			// A listen address nobody could reach, so a server started by
			// mistake fails instead of hanging the test.
			vars := map[string]string{"HERALD_LISTEN": "127.0.0.1:1"}
			stdout, stderr, code := runHerald(t, bin, work, vars, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout, stderr)
			}
			if tc.wantStdout == "" && stdout != "" || !strings.Contains(stdout, tc.wantStdout) {
				t.Errorf("stdout = %q, want it to hold %q", stdout, tc.wantStdout)
			}
			if tc.wantStderr == "" && stderr != "" || !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr = %q, want it to hold %q", stderr, tc.wantStderr)
			}
			if entries, _ := os.ReadDir(work); len(entries) != 0 {
				t.Errorf("the command created %s in the working directory", entries[0].Name())
			}
		})
	}
}

func TestStartWarnsWhenURLGuardsAreOff(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHerald(t)
	p := startHerald(t, bin, map[string]string{"HERALD_DATA_DIR": t.TempDir(), "HERALD_ADMIN_TOKEN": crashAdminToken,
		"HERALD_ALLOW_HTTP": "true", "HERALD_ALLOW_PRIVATE_NETWORKS": "true"})
	log := p.log.String()
	for _, want := range []string{"HERALD_ALLOW_HTTP", "HERALD_ALLOW_PRIVATE_NETWORKS"} {
		if !strings.Contains(log, "level=WARN msg=\"URL guard is off") || !strings.Contains(log, want) {
			t.Errorf("the start-up log does not warn that %s turned a guard off:\n%s", want, log)
		}
	}
	strict := startHerald(t, bin, map[string]string{"HERALD_DATA_DIR": t.TempDir(), "HERALD_ADMIN_TOKEN": crashAdminToken})
	if strings.Contains(strict.log.String(), "URL guard is off") {
		t.Errorf("a start with the guards on warns that they are off:\n%s", strict.log.String())
	}
}

func TestBackupWhileIngesting(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHerald(t)
	dataDir := t.TempDir()
	vars := map[string]string{"HERALD_DATA_DIR": dataDir, "HERALD_ADMIN_TOKEN": crashAdminToken}
	p := startHerald(t, bin, vars)

	var acked sync.Map
	stop := make(chan struct{})
	wg := loadPhase(p.URL, "bk", 8, &acked, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	// Let some events in, then note every id acknowledged so far: the copy
	// must hold each of them.
	eventuallyMain(t, "some events to be acknowledged", func() bool { return syncMapLen(&acked) >= 500 })
	before := map[string]bool{}
	acked.Range(func(k, _ any) bool { before[k.(string)] = true; return true })

	dest := filepath.Join(t.TempDir(), "copy.db")
	stdout, stderr, code := runHerald(t, bin, t.TempDir(), map[string]string{"HERALD_DATA_DIR": dataDir}, "backup", dest)
	if code != 0 {
		t.Fatalf("backup exited %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	after := syncMapLen(&acked)
	close(stop)
	wg.Wait()
	if after <= len(before) {
		t.Fatalf("no event was acknowledged while the backup ran (%d before, %d after): the test proves nothing", len(before), after)
	}

	db, err := sql.Open("sqlite3", "file:"+dest+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check of the copy = %q, %v", check, err)
	}
	rows, err := db.Query("SELECT id FROM events")
	if err != nil {
		t.Fatal(err)
	}
	inCopy := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		inCopy[id] = true
	}
	rows.Close()
	missing := 0
	for id := range before {
		if !inCopy[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events acknowledged before the backup are not in the copy", missing, len(before))
	}
	t.Logf("%d events acknowledged before the backup, %d in the copy, %d by the end", len(before), len(inCopy), after)

	t.Run("restoring the copy as the README says brings the events back", func(t *testing.T) {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-p.exited
		copyFile(t, dest, filepath.Join(dataDir, "herald.db"))
		for _, f := range []string{"herald.db-wal", "herald.db-shm"} {
			if err := os.Remove(filepath.Join(dataDir, f)); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		restored := startHerald(t, bin, vars)
		ids := listEventIDs(t, restored.URL, crashAdminToken)
		if len(ids) != len(inCopy) {
			t.Errorf("the restored server lists %d events, the copy held %d", len(ids), len(inCopy))
		}
		for id := range before {
			if !ids[id] {
				t.Fatalf("event %s, acknowledged before the backup, is missing after the restore", id)
			}
		}
	})

	t.Run("a second backup to the same file is refused and keeps the first", func(t *testing.T) {
		size := fileSize(t, dest)
		_, stderr, code := runHerald(t, bin, t.TempDir(), map[string]string{"HERALD_DATA_DIR": dataDir}, "backup", dest)
		if code == 0 || !strings.Contains(stderr, "already exists") {
			t.Errorf("backup over an existing file: exit %d, stderr %q", code, stderr)
		}
		if fileSize(t, dest) != size {
			t.Error("the existing copy was changed")
		}
	})

	t.Run("a backup of a data dir without a database fails and creates nothing", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "nothing-here")
		_, stderr, code := runHerald(t, bin, t.TempDir(), map[string]string{"HERALD_DATA_DIR": empty}, "backup", filepath.Join(t.TempDir(), "x.db"))
		if code == 0 || !strings.Contains(stderr, "no database") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		if _, err := os.Stat(empty); err == nil {
			t.Error("backup created the data dir")
		}
	})
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// eventuallyMain polls cond until it holds, for at most 30 seconds.
func eventuallyMain(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
