# syntax=docker/dockerfile:1
# Build: cgo is needed for mattn/go-sqlite3.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
# The plugin SDK is a module of its own, required through a replace.
COPY plugins/sdk/go.mod plugins/sdk/go.sum ./plugins/sdk/
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/herald . \
 && go build -trimpath -ldflags "-s -w" -o /out/plugins/herald-sink-jsonl ./plugins/jsonl \
 && go build -trimpath -ldflags "-s -w" -o /out/plugins/herald-sink-discord ./plugins/discord

# Run: a small Debian image (glibc for the cgo build), as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data herald \
 && mkdir -p /data /usr/lib/herald/plugins && chown herald /data
COPY --from=build /out/herald /usr/local/bin/herald
COPY --from=build /out/plugins/ /usr/lib/herald/plugins/
ENV HERALD_LISTEN=0.0.0.0:8080 \
    HERALD_DATA_DIR=/data \
    HERALD_PLUGIN_DIR=/usr/lib/herald/plugins
USER herald
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["herald"]
CMD ["serve"]
