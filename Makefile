# Herald: `make run` starts it, `make test` runs every test.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build run test race lint tidy bench fuzz soak plugins docker image-test clean

build:
	CGO_ENABLED=1 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/herald .

run:
	go run .

test:
	go test ./...

race:
	go test -race ./...

lint:
	gofmt -l . | tee /dev/stderr | (! read)
	go vet ./...

# Both modules tidy: CI fails when go mod tidy would change go.mod or go.sum.
tidy:
	go mod tidy
	cd plugins/sdk && go mod tidy

# Starts the real binary and loopback receivers; prints ingest and delivery
# rates, latency at 2,000 events/s, fan-out, a backlog run and RSS, in both
# sync modes, each against a raw loopback HTTP baseline from the same run
# (HERALD_BENCH_BACKLOG sets the backlog's size, default 1,000,000); then on
# PostgreSQL with 1 and 2 nodes: HERALD_TEST_DATABASE_URL, or a throwaway
# server (fsync on) when PostgreSQL is installed.
bench:
	@set -e; if [ -z "$$HERALD_TEST_DATABASE_URL" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		dir=$$(mktemp -d /tmp/herald-bench-pg.XXXXXX); trap ".ci/postgres stop $$dir" EXIT; \
		HERALD_TEST_DATABASE_URL=$$(HERALD_PG_FSYNC=on .ci/postgres start $$dir); export HERALD_TEST_DATABASE_URL; \
	fi; \
	go test -run '^$$' -bench BenchmarkHerald -benchtime 1x -timeout 90m .

# Each fuzz target (dir:name) for FUZZTIME, run from its directory (go test
# -fuzz takes one package and one target at a time, and the plugin SDK is a
# module of its own). Seeds live in <dir>/testdata/fuzz/<target>; a crash
# found is written there and replayed by every plain go test.
# The budget is a count of runs, not a duration: Go 1.26's fuzz coordinator
# can report its own -fuzztime deadline as a failure ("context deadline
# exceeded", no crasher; go.dev/issue/75804, fixed in Go 1.27). A count
# has no deadline to race, so on a slow machine it only takes longer.
FUZZTIME ?= 10000x
FUZZMINIMIZE ?= 200x
FUZZ_TARGETS := app:FuzzEventIngest app/store:FuzzParseData app:FuzzWebhookBody app:FuzzConfig app:FuzzAPIQuery app:FuzzAPIWrite app:FuzzCommand \
	sinks:FuzzSignVerify sinks:FuzzRetryAfter plugins/sdk:FuzzRetryAfter
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		dir=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$dir $$name ($(FUZZTIME))"; \
		(cd $$dir && go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) .); \
	done

# Kills the real binary with SIGKILL 20 times while 10,000 events are posted,
# then prints what was acked, delivered, duplicated and lost (lost must be 0).
soak:
	go test -run '^TestSoakKillNineWhileIngesting$$' -soak -count=1 -timeout 30m -v .

# The example sink plugins, ready to copy into the plugin folder.
plugins:
	go build -trimpath -ldflags "-s -w" -o bin/plugins/herald-sink-jsonl ./plugins/jsonl
	go build -trimpath -ldflags "-s -w" -o bin/plugins/herald-sink-discord ./plugins/discord

docker:
	docker build --build-arg VERSION=$(VERSION) -t herald:$(VERSION) .

# Builds the Dockerfile with podman (vfs storage; base images made locally
# and cached in /var/cache/herald-image) and smoke-tests the image: healthz,
# an event delivered to a receiver, a non-root user, the example plugins.
image-test:
	bash .ci/image-test

clean:
	rm -rf bin
