# Herald: `make run` starts it, `make test` runs every test.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build run test race lint bench soak plugins docker clean

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

# Starts the real binary and a loopback receiver; prints rates, latency and
# peak RSS, each against a raw loopback HTTP baseline from the same run.
bench:
	go test -run '^$$' -bench BenchmarkHerald -benchtime 1x -timeout 20m .

# Kills the real binary with SIGKILL 20 times while 10,000 events are posted,
# then prints what was acked, delivered, duplicated and lost (lost must be 0).
soak:
	go test -run '^TestSoakKillNineWhileIngesting$$' -soak -count=1 -timeout 30m -v .

# The example sink plugins, ready to copy into the plugin folder.
plugins:
	go build -trimpath -o bin/plugins/herald-sink-jsonl ./plugins/jsonl
	go build -trimpath -o bin/plugins/herald-sink-discord ./plugins/discord

docker:
	docker build --build-arg VERSION=$(VERSION) -t herald:$(VERSION) .

clean:
	rm -rf bin
