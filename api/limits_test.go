package api_test

import (
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
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, c.req)
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), fmt.Sprintf(`"code":%q`, c.code)) {
			t.Errorf("%s: got %d %s, want %d %s", c.name, rec.Code, rec.Body, c.status, c.code)
		}
	}
}

// TestServeHeaderLimit: the server refuses headers over MaxHeaderBytes (431)
// and serves normal requests.
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
	get := func(header int) int {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("h", header))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(1 << 10); code != 200 {
		t.Errorf("1 KiB header: %d, want 200", code)
	}
	// net/http allows 4 KiB of slack over MaxHeaderBytes.
	if code := get(api.MaxHeaderBytes + 8<<10); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized header: %d, want 431", code)
	}
}
