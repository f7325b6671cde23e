package console

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// memStore is an in-memory api.Store.
type memStore struct {
	mu     sync.Mutex
	recs   map[string]state.Record
	erased []string
}

func (m *memStore) Get(_ context.Context, id string) (state.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok {
		return state.Record{}, state.ErrNotFound
	}
	return r, nil
}
func (m *memStore) Resolve(context.Context, []string) (map[string]string, error) {
	return map[string]string{}, nil
}
func (m *memStore) Top(context.Context, string, int) ([]state.Ranked, error) { return nil, nil }
func (m *memStore) Erase(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, id)
	m.erased = append(m.erased, id)
	return nil
}
func (m *memStore) Ping(context.Context) error { return nil }

// NamesUpTo gives no name dictionary: the records here are written without
// one (format 3).
func (m *memStore) NamesUpTo(context.Context, uint64) (*state.NameDict, error) { return nil, nil }

// Write is only reached by erasure, to update accounts; the console's model
// has none.
func (m *memStore) Write(context.Context, []state.Update) ([]state.Result, error) {
	return nil, errors.New("memStore: writes are not supported")
}

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).UnixMilli()

const day = int64(24 * time.Hour / time.Millisecond)

// scoredLead plays a small journey: identify with traits, a white paper, a
// demo request (→ SQL), and returns the state.
func scoredLead(t *testing.T, eng *scoring.Engine) scoring.State {
	t.Helper()
	st := eng.NewState()
	id := scoring.Identity{UserID: "u1"}
	evs := []scoring.Event{
		{ID: "e1", Source: scoring.SourceWeb, Kind: "identify", Time: t0, Identity: id, Traits: scoring.Props{
			{Key: "title", Str: "VP Engineering"}, {Key: "company.employee_count", Kind: scoring.PropNumber, Str: "300", Num: 300}}},
		{ID: "e2", Source: scoring.SourceWeb, Kind: "track", Name: "Whitepaper Downloaded", Time: t0 + day, Identity: id,
			Properties: scoring.Props{{Key: "level", Str: "basic"}}},
		{ID: "e3", Source: scoring.SourceWeb, Kind: "track", Name: "Newsletter Signed Up", Time: t0 + 2*day, Identity: id},
		{ID: "e4", Source: scoring.SourceWeb, Kind: "track", Name: "Demo Requested", Time: t0 + 5*day, Identity: id},
	}
	for i := range evs {
		eng.Apply(&st, &evs[i])
	}
	return st
}

type rig struct {
	c     *Console
	store *memStore
	feed  *Feed
	eng   *scoring.Engine
	now   time.Time
}

func newRig(t *testing.T, token string) *rig {
	t.Helper()
	eng := testrules.Parse(t, journeys.B2BRulesFile, journeys.B2BRules())
	st := scoredLead(t, eng)
	data, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	store := &memStore{recs: map[string]state.Record{"user:u1": {LeadID: "user:u1", Version: 3, Data: data, Identities: []string{"user:u1"}}}}
	now := time.UnixMilli(t0 + 20*day)
	a, err := api.New(api.Config{Store: store, Models: func() *scoring.Set { return scoring.SingleSet(eng) }, Token: token,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	feed := NewFeed()
	c, err := New(Config{API: a, Token: token, Feed: feed, RulesSummary: func() string { return "summary of " + eng.Model().Version }})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{c: c, store: store, feed: feed, eng: eng, now: now}
}

// do serves one request; with sid it carries the session cookie.
func (r *rig) do(method, target, sid string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: CookieName, Value: sid})
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	r.c.ServeHTTP(w, req)
	return w
}

func (r *rig) login(t *testing.T, token string) (sid string, w *httptest.ResponseRecorder) {
	t.Helper()
	w = r.do(http.MethodPost, "/console/login", "", map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"},
		"token="+url.QueryEscape(token))
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			return c.Value, w
		}
	}
	return "", w
}

func TestLoginGate(t *testing.T) {
	r := newRig(t, "s3cret")
	if w := r.do(http.MethodGet, "/console/", "", nil, ""); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/login" {
		t.Errorf("GET /console/ without a session: %d to %q, want 303 to the login form", w.Code, w.Header().Get("Location"))
	}
	for _, p := range []string{"/console/api/session", "/console/api/funnel", "/console/api/leaders?stage=sql", "/console/api/lead?id=user:u1",
		"/console/api/accounts", "/console/api/account?id=acme", "/console/api/health", "/console/api/rules", "/console/api/stream"} {
		if w := r.do(http.MethodGet, p, "", nil, ""); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d, want 401", p, w.Code)
		}
		if w := r.do(http.MethodGet, p, "forged-session", nil, ""); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s with a forged session: %d, want 401", p, w.Code)
		}
	}
	start := time.Now()
	if sid, w := r.login(t, "wrong"); sid != "" || w.Header().Get("Location") != "/console/login?failed=1" {
		t.Errorf("wrong token: session %q, redirect %q", sid, w.Header().Get("Location"))
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("a wrong token answered after %s, want a pause of 500 ms", d)
	}
	w := r.do(http.MethodPost, "/console/login", "", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, "token=s3cret")
	if w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Errorf("cross-site login: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	sid, w := r.login(t, "s3cret")
	if sid == "" {
		t.Fatalf("no session after login: %d %v", w.Code, w.Header())
	}
	var ck *http.Cookie
	for _, c := range w.Result().Cookies() {
		ck = c
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console" || ck.MaxAge <= 0 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/console, a max age", ck)
	}
	w = r.do(http.MethodGet, "/console/api/session", sid, nil, "")
	var s Session
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || w.Code != http.StatusOK || !s.Auth || len(s.CSRF) != 64 {
		t.Fatalf("session: %d %s", w.Code, w.Body)
	}
	if w := r.do(http.MethodGet, "/console/", sid, nil, ""); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "app.js") {
		t.Errorf("GET /console/ with a session: %d", w.Code)
	}
	// The console's session is not a bearer token for the API.
	if w := r.do(http.MethodGet, "/v1/leads/user:u1", sid, nil, ""); w.Code != http.StatusUnauthorized {
		t.Errorf("GET /v1/leads with only the console cookie: %d, want 401", w.Code)
	}
	r.do(http.MethodPost, "/console/logout", sid, map[string]string{"Sec-Fetch-Site": "same-origin"}, "")
	if w := r.do(http.MethodGet, "/console/api/session", sid, nil, ""); w.Code != http.StatusUnauthorized {
		t.Errorf("session after logout: %d, want 401", w.Code)
	}
}

func TestOpenConsoleWithoutToken(t *testing.T) {
	r := newRig(t, "")
	if w := r.do(http.MethodGet, "/console/api/session", "", nil, ""); w.Code != http.StatusOK {
		t.Errorf("no token: session %d, want 200 (open, as the API is)", w.Code)
	}
	if w := r.do(http.MethodPost, "/console/api/erase?id=user:u1", "", nil, ""); w.Code != http.StatusForbidden {
		t.Errorf("no token: erase without the CSRF token %d, want 403", w.Code)
	}
}

func TestEraseNeedsCSRF(t *testing.T) {
	r := newRig(t, "s3cret")
	sid, _ := r.login(t, "s3cret")
	var s Session
	_ = json.Unmarshal(r.do(http.MethodGet, "/console/api/session", sid, nil, "").Body.Bytes(), &s)
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no token", nil, http.StatusForbidden},
		{"wrong token", map[string]string{CSRFHeader: strings.Repeat("0", 64)}, http.StatusForbidden},
		{"cross-site", map[string]string{CSRFHeader: s.CSRF, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"other origin", map[string]string{CSRFHeader: s.CSRF, "Origin": "https://evil.example"}, http.StatusForbidden},
		{"right token", map[string]string{CSRFHeader: s.CSRF, "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(r.store.erased)
			w := r.do(http.MethodPost, "/console/api/erase?id=user:u1", sid, tc.hdr, "")
			if w.Code != tc.want {
				t.Errorf("erase: %d %s, want %d", w.Code, w.Body, tc.want)
			}
			if erased := len(r.store.erased) > before; erased != (tc.want == http.StatusOK) {
				t.Errorf("erased %v with status %d", erased, w.Code)
			}
		})
	}
	before := len(r.store.erased)
	if w := r.do(http.MethodGet, "/console/api/erase?id=user:u1", sid, nil, ""); w.Code == http.StatusOK || len(r.store.erased) != before {
		t.Errorf("GET erase: %d, erased %v", w.Code, r.store.erased)
	}
}

func TestSecurityHeaders(t *testing.T) {
	r := newRig(t, "s3cret")
	sid, _ := r.login(t, "s3cret")
	for _, p := range []string{"/console/", "/console/login", "/console/assets/app.js", "/console/assets/app.css",
		"/console/api/session", "/console/api/rules", "/console/nope", "/"} {
		w := r.do(http.MethodGet, p, sid, nil, "")
		h := w.Header()
		if h.Get("Content-Security-Policy") != ContentSecurityPolicy || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v", p, h)
		}
	}
	if !strings.Contains(ContentSecurityPolicy, "script-src 'self';") || strings.Contains(ContentSecurityPolicy, "unsafe") {
		t.Errorf("CSP %q allows inline code", ContentSecurityPolicy)
	}
	// The API is served as before, without the console's headers.
	if w := r.do(http.MethodGet, "/healthz", "", nil, ""); w.Code != http.StatusOK || w.Header().Get("Content-Security-Policy") != "" {
		t.Errorf("GET /healthz: %d %v", w.Code, w.Header())
	}
	if w := r.do(http.MethodGet, "/console/assets/../console.go", sid, nil, ""); w.Code == http.StatusOK {
		t.Errorf("an asset outside the assets: %d", w.Code)
	}
}

// TestAssetsHaveNoInlineCode keeps the pages working under the CSP (no inline
// script, handler or style) and the script free of HTML parsing sinks.
func TestAssetsHaveNoInlineCode(t *testing.T) {
	inline := []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`(?i)<script>`),                      // a script without src
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),                // onclick=…
		regexp.MustCompile(`(?i)\sstyle\s*=|<style`),            // inline style
		regexp.MustCompile(`(?i)javascript:`),
	}
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\("on`)
	err := fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := assets.ReadFile(path)
		switch {
		case strings.HasSuffix(path, ".html"):
			for _, re := range inline {
				if loc := re.FindIndex(b); loc != nil {
					t.Errorf("%s: inline code %q", path, b[loc[0]:min(len(b), loc[1]+20)])
				}
			}
		case strings.HasSuffix(path, ".js"):
			if loc := sinks.FindIndex(b); loc != nil {
				t.Errorf("%s: HTML sink %q", path, b[loc[0]:loc[1]])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The checks can fail.
	for _, bad := range []string{`<script>alert(1)</script>`, `<a onclick="x()">`, `<p style="color:red">`} {
		hit := false
		for _, re := range inline {
			hit = hit || re.MatchString(bad)
		}
		if !hit {
			t.Errorf("%q not caught", bad)
		}
	}
	if !sinks.MatchString(`el.innerHTML = x`) {
		t.Error("innerHTML not caught")
	}
}

func change(id, lead, from, to string, at int64, model string, ids output.Identities) output.StageChange {
	return output.StageChange{ID: id, LeadID: lead, From: from, To: to, EventTime: output.FormatTime(at), ModelVersion: model, Identities: ids}
}

func TestFeedFunnel(t *testing.T) {
	stages := Stages{Order: []string{"visitor", "lapsed", "lead", "recycled", "mql", "hmql", "sql", "sal"}, MQL: "mql", SQL: "sql"}
	f := NewFeed()
	now := time.UnixMilli(t0 + 40*day)
	for _, c := range []output.StageChange{
		change("1", "user:a", "visitor", "lead", t0, "m1", output.Identities{}),
		change("2", "user:a", "lead", "mql", t0+day, "m1", output.Identities{}),
		change("2", "user:a", "lead", "mql", t0+day, "m1", output.Identities{}), // re-emitted duplicate
		change("3", "user:a", "mql", "sql", t0+3*day, "m1", output.Identities{}),
		change("4", "user:b", "visitor", "lead", t0+2*day, "m1", output.Identities{}),
		change("5", "user:b", "lead", "hmql", t0+12*day, "m1", output.Identities{}),
		change("6", "anon:x", "visitor", "lead", t0+30*day, "m1", output.Identities{}),
		// anon:x is stitched into user:c: counted once, as user:c.
		change("7", "user:c", "visitor", "mql", t0+31*day, "m1", output.Identities{UserID: "c", AnonymousIDs: []string{"x"}}),
		change("8", "user:c", "mql", "sql", t0+33*day, "m1", output.Identities{UserID: "c", AnonymousIDs: []string{"x"}}),
		change("9", "user:d", "visitor", "lead", t0+39*day, "m2", output.Identities{}),
	} {
		f.StageChange(c, 0, stages)
	}
	got := f.Funnel(now, 40*24*time.Hour, stages)
	if got.Changes != 9 || got.Duplicates != 1 || len(got.Models) != 2 {
		t.Fatalf("funnel %+v", got)
	}
	m1 := got.Models[0]
	counts := map[string]int{}
	for _, s := range m1.Stages {
		counts[s.Stage] = s.Leads
	}
	if counts["sql"] != 2 || counts["hmql"] != 1 || counts["lead"] != 0 || counts["mql"] != 0 {
		t.Errorf("leads per stage %v, want sql 2 (a, c), hmql 1 (b), none left in lead (anon:x was stitched)", counts)
	}
	if got.Models[1].Model != "m2" || got.Models[1].Stages[2].Leads != 1 {
		t.Errorf("model m2: %+v", got.Models[1])
	}
	if m1.EnteredMQL != 3 || m1.MQLToSQL != 2 || m1.Rate == nil || *m1.Rate != 2.0/3 {
		t.Errorf("entered MQL %d, MQL→SQL %d, rate %v; want 3, 2, 2/3", m1.EnteredMQL, m1.MQLToSQL, m1.Rate)
	}
	// a: 2 days from MQL to SQL, c: 2 days.
	if m1.TimeToSQLSeconds == nil || *m1.TimeToSQLSeconds != 2*86400 {
		t.Errorf("time to SQL %v, want 2 days", m1.TimeToSQLSeconds)
	}
	// A shorter period keeps the latest flows only.
	recent := f.Funnel(now, 10*24*time.Hour, stages)
	if recent.Models[0].EnteredMQL != 1 || recent.Models[0].MQLToSQL != 1 {
		t.Errorf("last 10 days: %+v", recent.Models[0])
	}
}

func TestFeedDeadLetters(t *testing.T) {
	f := NewFeed()
	payload := `{"type":"track","event":"<script>alert(1)</script>"`
	for i := range 7 {
		f.DeadLetterRecord(output.DeadLetter{Reason: "invalid_json", Message: "unexpected end", At: output.FormatTime(t0 + int64(i)),
			PayloadBase64: base64.StdEncoding.EncodeToString([]byte(payload)), PayloadSize: len(payload)})
	}
	f.DeadLetterRecord(output.DeadLetter{Reason: "too_large", At: output.FormatTime(t0 + 100)})
	d := f.DeadLetters()
	if d.ByReason["invalid_json"] != 7 || d.ByReason["too_large"] != 1 || len(d.Latest) != deadPerReason+1 {
		t.Fatalf("dead letters %+v", d)
	}
	if d.Latest[0].Reason != "too_large" || d.Latest[1].Payload != payload {
		t.Errorf("latest %+v", d.Latest[:2])
	}
	b, _ := json.Marshal(d)
	if strings.Contains(string(b), "<script>") {
		t.Errorf("the JSON carries markup unescaped: %s", b)
	}
}

func TestStream(t *testing.T) {
	r := newRig(t, "")
	stages := Stages{Order: []string{"visitor", "lead"}}
	r.feed.StageChange(change("old", "user:a", "visitor", "lead", t0, "m1", output.Identities{}), 1, stages)
	srv := httptest.NewServer(r.c)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/console/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(prefix string) string {
		t.Helper()
		timeout := time.After(time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended waiting for %q", prefix)
				}
				if strings.HasPrefix(l, prefix) {
					return l
				}
			case <-timeout:
				t.Fatalf("no %q within a second", prefix)
			}
		}
	}
	next("event: backlog")
	if l := next("data: "); !strings.Contains(l, `"id":"old"`) {
		t.Errorf("backlog %s", l)
	}
	next("event: ready")
	sent := time.Now()
	r.feed.StageChange(change("new", "user:b", "visitor", "lead", t0, "m1", output.Identities{}), 42, stages)
	next("event: change")
	var c Change
	if err := json.Unmarshal([]byte(strings.TrimPrefix(next("data: "), "data: ")), &c); err != nil || c.ID != "new" || c.ProducedMs != 42 {
		t.Errorf("change %+v %v", c, err)
	}
	if d := time.Since(sent); d > 500*time.Millisecond {
		t.Errorf("change streamed after %s", d)
	}
	// Close ends the stream (a graceful shutdown does not wait for it).
	r.c.Close()
	deadline := time.After(time.Second)
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return
			}
		case <-deadline:
			t.Error("the stream outlived Close")
			return
		}
	}
}

func TestLeadView(t *testing.T) {
	r := newRig(t, "")
	w := r.do(http.MethodGet, "/console/api/lead?id=user:u1", "", nil, "")
	if w.Code != http.StatusOK {
		t.Fatalf("lead: %d %s", w.Code, w.Body)
	}
	var v LeadView
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	// The lead is what GET /v1/leads/{id} answers.
	w2 := r.do(http.MethodGet, "/v1/leads/user:u1", "", nil, "")
	var want api.Lead
	_ = json.Unmarshal(w2.Body.Bytes(), &want)
	a, _ := json.Marshal(v.Lead)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Errorf("console lead\n%s\nAPI\n%s", a, b)
	}
	h := v.History
	if len(v.Lead.RecentTransitions) == 0 {
		t.Fatal("the journey made no transition")
	}
	last := h.Points[len(h.Points)-1]
	if last.Kind != "now" || last.Score != v.Lead.Score || h.Curve[len(h.Curve)-1].Score != v.Lead.Score {
		t.Errorf("the chart ends at %+v / %+v, want now at the lead's score %g", last, h.Curve[len(h.Curve)-1], v.Lead.Score)
	}
	transitions := 0
	for i, p := range h.Points {
		if p.Kind == "transition" {
			transitions++
		}
		if i > 0 && p.At < h.Points[i-1].At {
			t.Errorf("points out of order: %+v", h.Points)
		}
	}
	if transitions != len(v.Lead.RecentTransitions) {
		t.Errorf("%d transition points, %d transitions", transitions, len(v.Lead.RecentTransitions))
	}
	// Decay between known points: the curve after the last update falls.
	if n := len(h.Curve); h.Curve[n-1].Score >= h.Curve[n-samplesPerSegment].Score {
		t.Errorf("the curve does not decay towards now: %+v", h.Curve[n-samplesPerSegment:])
	}
	if h.Bands[len(h.Bands)-1].Stage != v.Lead.Stage || h.Bands[len(h.Bands)-1].To != r.now.UnixMilli() {
		t.Errorf("last band %+v, stage %s", h.Bands[len(h.Bands)-1], v.Lead.Stage)
	}
	if len(h.Thresholds) == 0 {
		t.Error("no thresholds")
	}
	// The matched fit rules sum to the lead's fit.
	sum := 0.0
	for _, fr := range v.FitRules {
		if fr.Matched {
			sum += fr.Points
		}
	}
	if sum != v.Lead.Fit || v.Lead.Fit == 0 {
		t.Errorf("matched fit rules sum to %g, fit %g", sum, v.Lead.Fit)
	}
	if w := r.do(http.MethodGet, "/console/api/lead?id=user:nobody", "", nil, ""); w.Code != http.StatusNotFound {
		t.Errorf("unknown lead: %d", w.Code)
	}
}

func TestRulesAndFunnelParams(t *testing.T) {
	r := newRig(t, "")
	w := r.do(http.MethodGet, "/console/api/rules", "", nil, "")
	var ru Rules
	if err := json.Unmarshal(w.Body.Bytes(), &ru); err != nil || ru.Version != r.eng.Model().Version || ru.Summary != "summary of "+ru.Version {
		t.Errorf("rules %+v %v", ru, err)
	}
	for _, tc := range []struct {
		q    string
		want int
	}{{"", 200}, {"?days=7", 200}, {"?days=0", 400}, {"?days=x", 400}, {"?days=401", 400}} {
		if w := r.do(http.MethodGet, "/console/api/funnel"+tc.q, "", nil, ""); w.Code != tc.want {
			t.Errorf("funnel%s: %d, want %d", tc.q, w.Code, tc.want)
		}
	}
	if w := r.do(http.MethodGet, "/console/api/leaders?stage=nope", "", nil, ""); w.Code != http.StatusBadRequest {
		t.Errorf("leaders of an unknown stage: %d", w.Code)
	}
}

func TestHealthShowsTheTail(t *testing.T) {
	r := newRig(t, "")
	check := func() string {
		t.Helper()
		var h Health
		w := r.do(http.MethodGet, "/console/api/health", "", nil, "")
		if err := json.Unmarshal(w.Body.Bytes(), &h); err != nil || w.Code != http.StatusOK {
			t.Fatalf("health: %d %s", w.Code, w.Body)
		}
		if !h.Readiness.Ready || h.Readiness.Checks["redis"] != "ok" {
			t.Errorf("readiness %+v", h.Readiness)
		}
		return h.Readiness.Checks[CheckTail]
	}
	if got := check(); got != "reading the topics' history" {
		t.Errorf("before the first empty fetch: %q", got)
	}
	r.feed.TailStatus(false, nil)
	if got := check(); got != "reading the topics' history" {
		t.Errorf("after a fetch with records: %q", got)
	}
	r.feed.TailStatus(true, nil)
	if got := check(); got != "ok" {
		t.Errorf("caught up: %q", got)
	}
	r.feed.TailStatus(false, context.DeadlineExceeded)
	if got := check(); got != context.DeadlineExceeded.Error() {
		t.Errorf("after a failed fetch: %q", got)
	}
	if f := r.feed.Funnel(r.now, 24*time.Hour, Stages{}); !f.CaughtUp {
		t.Error("the funnel does not say it caught up")
	}
}

func TestHistorySkipsUnboundedExit(t *testing.T) {
	eng := testrules.Parse(t, journeys.B2BRulesFile, journeys.B2BRules())
	m := *eng.Model()
	m.Stages = append([]scoring.Stage(nil), m.Stages...)
	for i := range m.Stages {
		if m.Stages[i].Exit != nil {
			e := *m.Stages[i].Exit
			e.Below = math.Inf(-1)
			m.Stages[i].Exit = &e
		}
	}
	eng2, err := scoring.NewEngine(&m)
	if err != nil {
		t.Fatal(err)
	}
	st := scoredLead(t, eng2)
	h := history(eng2, &st, t0+20*day)
	if _, err := json.Marshal(h); err != nil {
		t.Fatalf("history with an unbounded exit does not encode: %v", err)
	}
	for _, th := range h.Thresholds {
		if th.Kind == "exit" {
			t.Errorf("an unbounded exit drawn: %+v", th)
		}
	}
}
