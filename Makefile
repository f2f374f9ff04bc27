# Herald: `make run` starts it, `make test` runs every test.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build run test race lint bench plugins docker clean

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

# The example sink plugins, ready to copy into the plugin folder.
plugins:
	go build -trimpath -ldflags "-s -w" -o bin/plugins/herald-sink-jsonl ./plugins/jsonl
	go build -trimpath -ldflags "-s -w" -o bin/plugins/herald-sink-discord ./plugins/discord

docker:
	docker build --build-arg VERSION=$(VERSION) -t herald:$(VERSION) .

clean:
	rm -rf bin
