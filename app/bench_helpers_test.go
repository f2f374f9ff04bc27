package app

import (
	"net/http"
	"net/http/httptest"
)

// newCountingServer answers 200 at once and calls arrived for each request.
func newCountingServer(arrived func()) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived()
		w.WriteHeader(http.StatusOK)
	}))
}
