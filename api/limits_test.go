package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/api"
)

// TestRequestLimits: oversized requests are refused before routing and
// before authentication, with a JSON error; requests at the limit pass.
func TestRequestLimits(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, api.Config{Token: "s3cret"})
	longID := "email:" + strings.Repeat("a", api.MaxURIBytes) + "@example.com"
	for _, c := range []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"long path", httptest.NewRequest("GET", "/v1/leads/"+longID, nil), 414, api.CodeTooLarge},
		{"long query", httptest.NewRequest("GET", "/v1/leads?stage=mql&x="+strings.Repeat("b", api.MaxURIBytes), nil), 414, api.CodeTooLarge},
		{"large body", httptest.NewRequest("DELETE", "/v1/leads/user:u1", strings.NewReader(strings.Repeat("c", api.MaxBodyBytes+1))), 413, api.CodeTooLarge},
		{"body at the limit", httptest.NewRequest("DELETE", "/v1/leads/user:nobody", strings.NewReader(strings.Repeat("c", api.MaxBodyBytes))), 401, api.CodeUnauthorized},
		{"normal", httptest.NewRequest("GET", "/v1/leads/user:u1", nil), 401, api.CodeUnauthorized},
	} {
		rec := serve(t, h, c.req)
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), fmt.Sprintf(`"code":%q`, c.code)) {
			t.Errorf("%s: got %d %s, want %d %s", c.name, rec.Code, rec.Body, c.status, c.code)
		}
	}
}

// TestServeHeaderLimit: the server answers a request head (request line,
// headers and the blank line) of exactly MaxHeaderBytes and refuses one byte
// more with 431, whatever slack net/http adds to its own setting.
func TestServeHeaderLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	go func() { done <- api.Serve(ctx, ln, h, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// head returns a request head of exactly n bytes.
	head := func(n int) string {
		const start, end = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: ", "\r\n\r\n"
		return start + strings.Repeat("h", n-len(start)-len(end)) + end
	}
	status := func(n int) int {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, head(n)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%d-byte head: %v", n, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct{ n, status int }{
		{1 << 10, 200},
		{api.MaxHeaderBytes - 1, 200},
		{api.MaxHeaderBytes, 200},
		{api.MaxHeaderBytes + 1, http.StatusRequestHeaderFieldsTooLarge},
		{17 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{17000, http.StatusRequestHeaderFieldsTooLarge},
	} {
		if got := status(c.n); got != c.status {
			t.Errorf("%d-byte request head: %d, want %d", c.n, got, c.status)
		}
	}
}
