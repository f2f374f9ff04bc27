package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// How request bodies are read. Fiber streams them (StreamRequestBody, and
// streamEveryBody): a handler runs as soon as the headers are in, and the
// body is read by readBody, which runs only after the token and its scope
// were checked. Everything else about bodies hangs on that:
//   - a request that is refused (401, 403, 404, 405, 413, 415) is answered
//     without reading its body, and its connection is closed afterwards, so
//     the unread bytes can never be taken for the next request;
//   - bodies are read through BodyLimit, and gzip is inflated through it too
//     (identity and gzip are the only encodings taken; others get a 415);
//   - all bodies being read at once share bodyBudget bytes.
const (
	// DefaultBodyBudget bounds the bytes held by request bodies being read
	// at once: 128 bodies at the default 256 KiB limit.
	DefaultBodyBudget = 32 << 20
	// bodyBudgetWait is how long a request waits for room in the budget
	// before it is told to come back (503 with Retry-After).
	bodyBudgetWait = 5 * time.Second
	// MaxHeaderBytes caps the request line and headers (431 above): the size
	// of the server's read buffer, which every connection holds.
	MaxHeaderBytes = 16 << 10
)

const bodyReadKey = "herald_body_read"

// streamEveryBody makes the server hand every request to the handlers as
// soon as its headers are in, with at most what already sits in the read
// buffer of its body: with a body limit of 1 byte, fasthttp streams the rest
// instead of buffering it (by default it waits for the first 8 KiB).
func streamEveryBody(*fasthttp.RequestHeader) fasthttp.RequestConfig {
	return fasthttp.RequestConfig{MaxRequestBodySize: 1}
}

// guardRequest runs first on every request: it refuses ambiguous framing,
// drops bodies nobody will read, and closes the connection after a request
// whose body was left unread.
func (a *App) guardRequest(c *fiber.Ctx) error {
	h := &c.Request().Header
	hasBody := h.ContentLength() > 0 || h.ContentLength() == -1 // -1: chunked
	if hasBody {
		defer func() {
			if c.Locals(bodyReadKey) == nil {
				c.Response().Header.SetConnectionClose()
			}
		}()
	}
	if err := checkFraming(h.RawHeaders()); err != nil {
		return err
	}
	if hasBody && !takesBody(c) {
		c.Request().SetBodyRaw(nil) // discards the stream unread
	}
	return c.Next()
}

// takesBody reports whether a handler may read this request's body.
func takesBody(c *fiber.Ctx) bool {
	switch c.Method() {
	case fiber.MethodPost, fiber.MethodPatch, fiber.MethodPut:
		return strings.HasPrefix(strings.ToLower(c.Path()), "/api/v1/") // routes match in any case
	}
	return false
}

// checkFraming refuses requests whose length can be read two ways (RFC 9112
// §6.3): Content-Length headers that disagree, or Content-Length together
// with Transfer-Encoding. A server and a proxy in front of it could each
// pick a different one.
func checkFraming(raw []byte) error {
	var length string
	var hasLength, hasTE bool
	for _, line := range bytes.Split(raw, []byte("\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "transfer-encoding":
			hasTE = true
		case "content-length":
			for _, v := range strings.Split(string(value), ",") {
				v = strings.TrimSpace(v)
				if hasLength && v != length {
					return errorf(CodeBadRequest, "", "conflicting Content-Length headers")
				}
				length, hasLength = v, true
			}
		}
	}
	if hasLength && hasTE {
		return errorf(CodeBadRequest, "", "a request may have Content-Length or Transfer-Encoding, not both")
	}
	return nil
}

// readBody reads the body of an authorised request through the limits and
// leaves it in place for the handler. It runs after requireScope.
func (a *App) readBody(c *fiber.Ctx) error {
	if !takesBody(c) {
		return c.Next()
	}
	req := c.Request()
	gz, err := bodyEncoding(string(req.Header.Peek(fiber.HeaderContentEncoding)))
	if err != nil {
		return err
	}
	limit := a.cfg.BodyLimit
	length := req.Header.ContentLength()
	if length > limit {
		return errorf(CodeTooLarge, "", "the request body is %d bytes; the limit is %d", length, limit)
	}
	need := limit // chunked: up to the limit
	if length >= 0 {
		need = length
	}
	if gz {
		need += limit // and the inflated copy
	}
	if !a.bodies.tryAcquire(need) { // the common case: no timer to set up
		ctx, cancel := context.WithTimeout(context.Background(), bodyBudgetWait)
		err := a.bodies.acquire(ctx, need)
		cancel()
		if err != nil {
			c.Set(fiber.HeaderRetryAfter, "1")
			return errorf(CodeUnavailable, "", "too many request bodies are being read at once; try again")
		}
	}
	defer a.bodies.release(need)

	var src io.Reader = bytes.NewReader(req.Body()) // no stream: nothing or a small body, already read
	if s := req.BodyStream(); s != nil {
		src = s
	}
	body, err := readUpTo(src, limit, max(length, 0))
	if err != nil {
		return err
	}
	c.Locals(bodyReadKey, true) // all of it came off the wire: the connection may be reused
	if gz {
		if body, err = gunzipUpTo(body, limit); err != nil {
			return err
		}
		req.Header.Del(fiber.HeaderContentEncoding) // so nothing inflates it again
	}
	req.SetBodyRaw(body)
	return c.Next()
}

// bodyEncoding reads Content-Encoding: identity always, gzip inflated
// through the limit, anything else (deflate, br, zstd, layers) a 415.
func bodyEncoding(v string) (gzip bool, err error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "identity":
		return false, nil
	case "gzip", "x-gzip":
		return true, nil
	}
	return false, errorf(CodeUnsupportedEncoding, "", "Content-Encoding %q is not accepted; send the body uncompressed or gzip-compressed", v)
}

// readUpTo reads r to the end, failing with a 413 past limit bytes. With
// the size known (Content-Length) it reads into a buffer of that size plus
// one byte, to see the end, and allocates nothing more.
func readUpTo(r io.Reader, limit, sizeHint int) ([]byte, error) {
	buf := make([]byte, 0, min(sizeHint, limit)+1)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(max(cap(buf), 512), limit+1-len(buf)))
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit+1)])
		buf = buf[:len(buf)+n]
		switch {
		case len(buf) > limit:
			return nil, errorf(CodeTooLarge, "", "the request body is over the limit of %d bytes", limit)
		case err == io.EOF:
			return buf, nil
		case err != nil && isTimeout(err):
			return nil, errorf(CodeTimeout, "", "the request body was not received in time")
		case err != nil:
			return nil, errorf(CodeBadRequest, "", "the request body could not be read: %s", err.Error())
		}
	}
}

// gunzipUpTo inflates a gzip body, failing with a 413 as soon as the result
// passes limit: a small bomb never grows past it.
func gunzipUpTo(body []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, errorf(CodeBadRequest, "", "the body is not valid gzip: %s", err.Error())
	}
	out := bytes.NewBuffer(make([]byte, 0, min(4*len(body), limit)+1))
	n, err := out.ReadFrom(io.LimitReader(zr, int64(limit)+1))
	if n > int64(limit) {
		return nil, errorf(CodeTooLarge, "", "the body inflates to more than the limit of %d bytes", limit)
	}
	if err != nil {
		return nil, errorf(CodeBadRequest, "", "the body is not valid gzip: %s", err.Error())
	}
	return out.Bytes(), nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout() || strings.Contains(err.Error(), "timeout")
}

// bodyBudget is a byte semaphore: a body being read holds its size until
// its request is answered.
type bodyBudget struct {
	mu      sync.Mutex
	free    int
	waiting int           // requests in acquire, waiting for room
	wake    chan struct{} // closed and replaced when bytes are given back while some wait
}

func newBodyBudget(n int) *bodyBudget { return &bodyBudget{free: n, wake: make(chan struct{})} }

// tryAcquire takes n bytes if they are free now.
func (b *bodyBudget) tryAcquire(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.free >= n {
		b.free -= n
		return true
	}
	return false
}

// acquire takes n bytes, waiting for them until ctx ends.
func (b *bodyBudget) acquire(ctx context.Context, n int) error {
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return nil
		}
		b.waiting++
		wake := b.wake
		b.mu.Unlock()
		var err error
		select {
		case <-wake:
		case <-ctx.Done():
			err = ctx.Err()
		}
		b.mu.Lock()
		b.waiting--
		b.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

func (b *bodyBudget) release(n int) {
	b.mu.Lock()
	b.free += n
	if b.waiting > 0 {
		close(b.wake)
		b.wake = make(chan struct{})
	}
	b.mu.Unlock()
}

// allowedMethods lists the methods some route takes at path, for 405's Allow.
func allowedMethods(f *fiber.App, path string) []string {
	var out []string
	want := strings.Split(strings.TrimSuffix(path, "/"), "/")
	for _, r := range f.GetRoutes(true) {
		got := strings.Split(strings.TrimSuffix(r.Path, "/"), "/")
		if len(got) != len(want) || strings.Contains(r.Path, "*") {
			continue
		}
		match := true
		for i := range got {
			if got[i] != want[i] && (!strings.HasPrefix(got[i], ":") || want[i] == "") {
				match = false
				break
			}
		}
		if match && !slices.Contains(out, r.Method) {
			out = append(out, r.Method)
		}
	}
	return out
}

// notRouted answers what no route under /api/v1 took: 405 when the path
// exists with other methods, 404 otherwise.
func notRouted(c *fiber.Ctx) error {
	if len(allowedMethods(c.App(), c.Path())) > 0 {
		return errorf(CodeMethodNotAllowed, "", "%s is not allowed on %s", c.Method(), c.Path())
	}
	return errorf(CodeNotFound, "", "no such endpoint: %s %s", c.Method(), c.Path())
}
