package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/console"
)

// checkRunConsole checks the web console of a `leadscore run` serving base
// with token, whose processor has moved user:u-77 to sql: the login gate, the
// funnel from the stage-change topic, the lead and health from the API.
func checkRunConsole(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	get := func(path string, v any) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if v != nil && resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
		return resp.StatusCode
	}
	if code := get("/console/api/funnel", nil); code != http.StatusUnauthorized {
		t.Errorf("console funnel without logging in: %d", code)
	}
	resp, err := cl.PostForm(base+"/console/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Request.URL.Path, "/console/") {
		t.Fatalf("login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	var f console.Funnel
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		get("/console/api/funnel?days=400", &f)
		if len(f.Models) > 0 && count(f.Models[0].Stages, "sql") == 1 || time.Now().After(deadline) {
			break
		}
	}
	if len(f.Models) == 0 || count(f.Models[0].Stages, "sql") != 1 {
		t.Errorf("the console's funnel never counted the lead in sql: %+v", f)
	}
	var v console.LeadView
	if code := get("/console/api/lead?id=user:u-77", &v); code != http.StatusOK || v.Lead.Stage != "sql" || len(v.History.Points) < 2 {
		t.Errorf("console lead: %d %+v", code, v.Lead)
	}
	var h console.Health
	if code := get("/console/api/health", &h); code != http.StatusOK || !h.Readiness.Ready || !h.Metrics.Available || h.Metrics.Consumed["applied"] < 2 {
		t.Errorf("console health: %d %+v", code, h)
	}
}

func count(stages []console.StageCount, stage string) int {
	for _, s := range stages {
		if s.Stage == stage {
			return s.Leads
		}
	}
	return -1
}
