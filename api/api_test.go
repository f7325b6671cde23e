package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// t0 is when the fixture's events happened; the API answers ten days later.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fixture is a store holding three leads, written as the processor writes them:
//
//   - user:u1 — identified by an identify that ties anonymous visitor a1 and
//     jane@example.com to it, looked at pricing, asked for a demo: sql;
//   - anon:a1 — the anonymous visitor, a tombstone merged into user:u1;
//   - user:u2 — signed up to the newsletter: lead.
type fixture struct {
	mr    *miniredis.Miniredis
	store *state.Store
	eng   *scoring.Engine // the first model's
	set   *scoring.Set
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOf(t, scoring.SingleSet(testrules.Parse(t, journeys.B2BRulesFile, journeys.B2BRules())))
}

// newFixtureOf is the fixture's leads scored under the models of set.
func newFixtureOf(t *testing.T, set *scoring.Set) *fixture {
	t.Helper()
	ctx := context.Background()
	mr := miniredis.RunT(t)
	st, err := state.New(ctx, state.Options{Addrs: []string{mr.Addr()}, TimerShards: 4, Buckets: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{mr: mr, store: st, eng: set.Engines()[0], set: set, now: t0.Add(10 * 24 * time.Hour)}
	at := func(min int) string { return t0.Add(time.Duration(min) * time.Minute).Format(time.RFC3339) }
	lines := []string{
		fmt.Sprintf(`{"type":"page","name":"Pricing","anonymousId":"a1","messageId":"p1","timestamp":%q,"context":{"page":{"path":"/pricing","url":"https://example.com/pricing"}}}`, at(0)),
		fmt.Sprintf(`{"type":"identify","anonymousId":"a1","userId":"u1","messageId":"i1","timestamp":%q,"traits":{"email":"Jane@Example.com","title":"VP Marketing"}}`, at(5)),
		fmt.Sprintf(`{"type":"track","event":"Demo Requested","userId":"u1","messageId":"d1","timestamp":%q}`, at(10)),
		fmt.Sprintf(`{"type":"track","event":"Newsletter Signed Up","userId":"u2","messageId":"n1","timestamp":%q}`, at(20)),
	}
	r := replayLines(t, set, lines)
	// Written by another process, as the processor writes leads: their
	// states name rules and stages by ids of the name dictionary, which the
	// API's store has not loaded.
	writer, err := state.New(ctx, state.Options{Addrs: []string{mr.Addr()}, TimerShards: 4, Buckets: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { writer.Close() })
	ups := leadUpdates(t, set, r, writer)
	// The anonymous visitor's own lead, stitched into user:u1.
	ups = append(ups, state.Update{Base: state.Record{LeadID: "anon:a1"}, MergedInto: "user:u1"})
	mustWrite(t, writer, ups)
	return f
}

// missing is a name dictionary that notes the names it lacks.
type missing struct {
	*state.NameDict
	names []string
}

func (m *missing) NameID(n string) (uint64, bool) {
	id, ok := m.NameDict.NameID(n)
	if !ok {
		m.names = append(m.names, n)
	}
	return id, ok
}

// mustWrite writes ups, failing t on any error.
func mustWrite(t *testing.T, st *state.Store, ups []state.Update) {
	t.Helper()
	res, err := st.Write(context.Background(), ups)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res {
		if x.Err != nil {
			t.Fatalf("writing %s: %v", x.LeadID, x.Err)
		}
	}
}

// replayLines applies the event lines, in order, through the oracle's runner.
func replayLines(t *testing.T, set *scoring.Set, lines []string) *replay.Runner {
	t.Helper()
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := replay.NewSet(set)
	for _, l := range lines {
		ev, err := dec.DecodeAny([]byte(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		r.Apply(&ev)
	}
	return r
}

// leadUpdates are the writes of the runner's leads to st, as the processor
// makes them: state (its names as ids of st's name dictionary),
// identities, deadline and a board per model.
func leadUpdates(t *testing.T, set *scoring.Set, r *replay.Runner, st *state.Store) []state.Update {
	t.Helper()
	var ups []state.Update
	for _, id := range r.LeadIDs() {
		l := r.States(id)
		miss := &missing{NameDict: st.Names()}
		if _, err := l.AppendBinaryNames(nil, set.Names(), miss); err != nil {
			t.Fatal(err)
		}
		names, err := st.EnsureNames(context.Background(), miss.names)
		if err != nil {
			t.Fatal(err)
		}
		data, err := l.AppendBinaryNames(nil, set.Names(), names)
		if err != nil {
			t.Fatal(err)
		}
		if scoring.MaxNameID(data) == 0 {
			t.Fatalf("lead %s: written without names", id)
		}
		next, _ := set.NextChange(l)
		ids := r.Identities(id)
		keys := []string{id}
		for _, e := range ids.Emails {
			keys = append(keys, scoring.PrefixEmail+e)
		}
		for _, a := range ids.AnonymousIDs {
			keys = append(keys, scoring.PrefixAnon+a)
		}
		up := state.Update{Base: state.Record{LeadID: id}, Data: data, Deadline: next, Identities: keys}
		for i, e := range set.Engines() {
			b := state.Board{Stage: state.BoardName(e.Model().Name, l.States[i].Stage), Rank: e.Rank(&l.States[i])}
			if i == 0 {
				up.Stage, up.Rank = b.Stage, b.Rank
			} else {
				up.Boards = append(up.Boards, b)
			}
		}
		ups = append(ups, up)
	}
	return ups
}

func (f *fixture) handler(t *testing.T, cfg api.Config) http.Handler {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = f.store
	}
	cfg.Models = func() *scoring.Set { return f.set }
	cfg.Now = func() time.Time { return f.now }
	cfg.Logger = quiet
	h, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call serves one request and checks its status, its content type and that its
// body matches the OpenAPI document's schema for that operation and status.
func call(t *testing.T, h http.Handler, method, target, token string, wantStatus int) map[string]any {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := serve(t, h, req)
	if rec.Code != wantStatus {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, target, rec.Code, wantStatus, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: content type %q", method, target, ct)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s: %v: %s", method, target, err, rec.Body)
	}
	return body
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestGetLead(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, api.Config{})
	body := call(t, h, "GET", "/v1/leads/user:u1", "", 200)
	if body["lead_id"] != "user:u1" || body["stage"] != "sql" || body["identified"] != true {
		t.Errorf("lead: %v", body)
	}
	if _, ok := body["requested_id"]; ok {
		t.Errorf("requested_id set for a direct lookup: %v", body["requested_id"])
	}
	// Decay: the demo request's 25 points, ten days later, with a 45-day half-life.
	score := body["score"].(float64)
	sum := 0.0
	for _, c := range body["breakdown"].([]any) {
		sum += c.(map[string]any)["points"].(float64)
	}
	if score <= 0 || score >= 45 || math.Abs(sum-score) > 1e-5 {
		t.Errorf("score %v, breakdown sum %v", score, sum)
	}
	if body["at"] != "2026-03-12T09:00:00.000Z" || body["stage_since"] != "2026-03-02T09:10:00.000Z" {
		t.Errorf("at %v, stage_since %v", body["at"], body["stage_since"])
	}
	ids := body["identities"].(map[string]any)
	if ids["user_id"] != "u1" || fmt.Sprint(ids["emails"]) != "[jane@example.com]" || fmt.Sprint(ids["anonymous_ids"]) != "[a1]" {
		t.Errorf("identities %v", ids)
	}
	trs := body["recent_transitions"].([]any)
	if len(trs) < 2 {
		t.Fatalf("transitions %v", trs)
	}
	newest := trs[0].(map[string]any)
	if newest["to"] != "sql" || newest["trigger_event_id"] != "d1" || newest["direction"] != "up" {
		t.Errorf("newest transition %v", newest)
	}
	if trs[len(trs)-1].(map[string]any)["from"] != "visitor" {
		t.Errorf("oldest transition %v", trs[len(trs)-1])
	}
}

func TestGetLeadByIdentityAndMerge(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, api.Config{})
	for _, id := range []string{"email:jane@example.com", "email:Jane@Example.COM", "anon:a1"} {
		body := call(t, h, "GET", "/v1/leads/"+id, "", 200)
		if body["lead_id"] != "user:u1" || body["requested_id"] != id {
			t.Errorf("GET %s: lead_id %v, requested_id %v", id, body["lead_id"], body["requested_id"])
		}
	}
	for _, id := range []string{"user:nobody", "email:nobody@example.com", "crm-u1"} {
		if body := call(t, h, "GET", "/v1/leads/"+id, "", 404); errCode(body) != "not_found" {
			t.Errorf("GET %s: %v", id, body)
		}
	}
	if body := call(t, h, "GET", "/v1/leads/", "", 404); errCode(body) != "not_found" {
		t.Errorf("GET /v1/leads/: %v", body)
	}
}

func TestTopLeads(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, api.Config{})
	body := call(t, h, "GET", "/v1/leads?stage=sql", "", 200)
	leads := body["leads"].([]any)
	if body["stage"] != "sql" || len(leads) != 1 || leads[0].(map[string]any)["lead_id"] != "user:u1" {
		t.Errorf("top sql: %v", body)
	}
	lead := call(t, h, "GET", "/v1/leads/user:u1", "", 200)
	if got, want := leads[0].(map[string]any)["score"].(float64), lead["score"].(float64); math.Abs(got-want) > 1e-3 {
		t.Errorf("leaderboard score %v, lead score %v", got, want)
	}
	if body := call(t, h, "GET", "/v1/leads?stage=lead&limit=1", "", 200); len(body["leads"].([]any)) != 1 {
		t.Errorf("top lead: %v", body)
	}
	if body := call(t, h, "GET", "/v1/leads?stage=customer", "", 200); len(body["leads"].([]any)) != 0 {
		t.Errorf("top customer: %v", body)
	}
	for target, code := range map[string]string{
		"/v1/leads":                      "unknown_stage",
		"/v1/leads?stage=nope":           "unknown_stage",
		"/v1/leads?stage=sql&limit=0":    "invalid_limit",
		"/v1/leads?stage=sql&limit=1001": "invalid_limit",
		"/v1/leads?stage=sql&limit=ten":  "invalid_limit",
	} {
		if body := call(t, h, "GET", target, "", 400); errCode(body) != code {
			t.Errorf("GET %s: %v, want %s", target, body, code)
		}
	}
}

// countingStore counts leaderboard reads.
type countingStore struct {
	api.Store
	tops atomic.Int64
}

func (c *countingStore) Top(ctx context.Context, stage string, limit int) ([]state.Ranked, error) {
	c.tops.Add(1)
	return c.Store.Top(ctx, stage, limit)
}

func TestTopLeadsCacheAndErase(t *testing.T) {
	f := newFixture(t)
	cs := &countingStore{Store: f.store}
	h := f.handler(t, api.Config{Store: cs, TopCacheTTL: time.Hour})
	call(t, h, "GET", "/v1/leads?stage=lead", "", 200)
	body := call(t, h, "GET", "/v1/leads?stage=lead", "", 200)
	if n := cs.tops.Load(); n != 1 || len(body["leads"].([]any)) != 1 {
		t.Fatalf("%d leaderboard reads for two requests; body %v", n, body)
	}
	if body := call(t, h, "DELETE", "/v1/leads/user:u2", "", 200); body["lead_id"] != "user:u2" || body["erased"] != true {
		t.Errorf("DELETE: %v", body)
	}
	call(t, h, "GET", "/v1/leads/user:u2", "", 404)
	call(t, h, "DELETE", "/v1/leads/user:u2", "", 404)
	if body := call(t, h, "GET", "/v1/leads?stage=lead", "", 200); len(body["leads"].([]any)) != 0 {
		t.Errorf("an erased lead is still listed: %v", body)
	}
	// Erasing by an identity erases the lead that holds it, and what it absorbed.
	if body := call(t, h, "DELETE", "/v1/leads/email:jane@example.com", "", 200); body["lead_id"] != "user:u1" {
		t.Errorf("DELETE by e-mail: %v", body)
	}
	for _, id := range []string{"user:u1", "anon:a1", "email:jane@example.com"} {
		call(t, h, "GET", "/v1/leads/"+id, "", 404)
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, api.Config{Token: "s3cret", Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "leadscore_ready 1\n")
	})})
	for _, tok := range []string{"", "wrong", "s3cret2"} {
		req := httptest.NewRequest("GET", "/v1/leads/user:u1", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := serve(t, h, req)
		if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "Bearer") || !strings.Contains(rec.Body.String(), `"code":"unauthorized"`) {
			t.Errorf("token %q: %d %s %v", tok, rec.Code, rec.Body, rec.Header())
		}
	}
	// The scheme is case-insensitive (RFC 9110 §11.1); the token is not, and
	// another scheme carrying the same secret is refused.
	for header, status := range map[string]int{
		"Bearer s3cret":       200,
		"bearer s3cret":       200,
		"BEARER s3cret":       200,
		"  Bearer   s3cret  ": 200,
		"Bearer S3CRET":       401,
		"Bearers3cret":        401,
		"Bearer":              401,
		"Basic czNjcmV0":      401,
		"Basic s3cret":        401,
		"Token s3cret":        401,
	} {
		req := httptest.NewRequest("GET", "/v1/leads/user:u1", nil)
		req.Header.Set("Authorization", header)
		if rec := serve(t, h, req); rec.Code != status {
			t.Errorf("Authorization %q: %d, want %d", header, rec.Code, status)
		}
	}
	call(t, h, "GET", "/v1/leads/user:u1", "s3cret", 200)
	call(t, h, "GET", "/v1/leads?stage=sql", "s3cret", 200)
	call(t, h, "DELETE", "/v1/leads/user:nobody", "", 401)
	// Ops endpoints stay open.
	call(t, h, "GET", "/healthz", "", 200)
	call(t, h, "GET", "/readyz", "", 200)
	rec := serve(t, h, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || rec.Body.String() != "leadscore_ready 1\n" {
		t.Errorf("GET /metrics without a token: %d %s", rec.Code, rec.Body)
	}
}

func TestRoutingErrors(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, api.Config{})
	for _, c := range []struct {
		method, target string
		status         int
		code, allow    string
	}{
		{"PUT", "/v1/leads/user:u1", 405, "method_not_allowed", "GET, DELETE"},
		{"POST", "/v1/leads", 405, "method_not_allowed", "GET"},
		{"POST", "/healthz", 405, "method_not_allowed", "GET"},
		{"DELETE", "/readyz", 405, "method_not_allowed", "GET"},
		{"GET", "/v2/leads", 404, "not_found", ""},
		{"POST", "/v2/leads", 404, "not_found", ""},
		{"GET", "/metrics", 404, "not_found", ""}, // no metrics handler configured
	} {
		req := httptest.NewRequest(c.method, c.target, nil)
		rec := serve(t, h, req)
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), `"code":"`+c.code+`"`) || rec.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: %d %q Allow %q", c.method, c.target, rec.Code, rec.Body, rec.Header().Get("Allow"))
		}
	}
}

func TestReadiness(t *testing.T) {
	f := newFixture(t)
	var notReady atomic.Value
	notReady.Store("")
	h := f.handler(t, api.Config{Ready: func() error {
		if s := notReady.Load().(string); s != "" {
			return errors.New(s)
		}
		return nil
	}})
	body := call(t, h, "GET", "/readyz", "", 200)
	if body["ready"] != true || fmt.Sprint(body["checks"]) != "map[processor:ok redis:ok]" {
		t.Errorf("readyz: %v", body)
	}
	notReady.Store("kafka: connection refused")
	body = call(t, h, "GET", "/readyz", "", 503)
	if body["ready"] != false || body["checks"].(map[string]any)["processor"] != "kafka: connection refused" {
		t.Errorf("readyz: %v", body)
	}
	notReady.Store("")
	f.mr.Close() // Redis goes away
	body = call(t, h, "GET", "/readyz", "", 503)
	if body["checks"].(map[string]any)["redis"] == "ok" {
		t.Errorf("readyz with Redis down: %v", body)
	}
	if body := call(t, h, "GET", "/v1/leads/user:u1", "", 503); errCode(body) != "unavailable" {
		t.Errorf("GET with Redis down: %v", body)
	}
	call(t, h, "GET", "/healthz", "", 200)
}

func TestNewValidates(t *testing.T) {
	if _, err := api.New(api.Config{}); err == nil {
		t.Error("New accepted a config without store and engine")
	}
}

// TestSeveralModels: with two models, a lead answers under both (models),
// ?model= picks the one shown at the top level, and each model's stage has
// its own leaderboard, even where the stage names are the same.
func TestSeveralModels(t *testing.T) {
	b2b := testrules.Parse(t, journeys.B2BRulesFile, journeys.B2BRules())
	b2b.Model().Name = "b2b"
	web := testrules.Parse(t, "web.yaml", []byte(webModel))
	set, err := scoring.NewSet(b2b, web)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureOf(t, set)
	h := f.handler(t, api.Config{})

	body := call(t, h, "GET", "/v1/leads/anon:a1", "", 200)
	models, _ := body["models"].([]any)
	if body["model"] != "b2b" || body["stage"] != "sql" || len(models) != 2 {
		t.Fatalf("lead: model %v stage %v models %v", body["model"], body["stage"], body["models"])
	}
	if w := models[1].(map[string]any); w["model"] != "web" || w["stage"] != "sql" || w["score"] != 30.0 || w["model_version"] != "web-1" {
		t.Errorf("web model's view: %v", w)
	}
	if body := call(t, h, "GET", "/v1/leads/user:u1?model=web", "", 200); body["model"] != "web" || body["score"] != 30.0 {
		t.Errorf("?model=web: model %v score %v", body["model"], body["score"])
	}
	for _, tc := range []struct {
		target, lead, model string
	}{
		{"/v1/leads?stage=sql&model=web", "user:u1", "web"},
		{"/v1/leads?stage=visitor&model=web", "user:u2", "web"},
		{"/v1/leads?stage=sql", "user:u1", "b2b"},
		{"/v1/leads?stage=lead", "user:u2", "b2b"},
	} {
		body := call(t, h, "GET", tc.target, "", 200)
		leads := body["leads"].([]any)
		if body["model"] != tc.model || len(leads) != 1 || leads[0].(map[string]any)["lead_id"] != tc.lead {
			t.Errorf("GET %s: %v, want %s of model %s alone", tc.target, body, tc.lead, tc.model)
		}
	}
	for target, code := range map[string]string{
		"/v1/leads/user:u1?model=nope":   "unknown_model",
		"/v1/leads?stage=sql&model=nope": "unknown_model",
		"/v1/leads?stage=lead&model=web": "unknown_stage",
	} {
		if body := call(t, h, "GET", target, "", 400); errCode(body) != code {
			t.Errorf("GET %s: %v, want %s", target, body, code)
		}
	}
}

// webModel is a second model for the tests of several models: 30 points a
// pricing page, and an sql stage like the B2B model's.
const webModel = `
version: web-1
name: web
rules:
  - {name: pricing, points: 30, match: {source: web, type: page, path: /pricing}}
stages:
  - name: visitor
  - name: sql
    entry: [{score: 25}]
`
