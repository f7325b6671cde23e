package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/console"
	"github.com/leadscore/leadscore/internal/demo"
	"github.com/leadscore/leadscore/internal/eventually"
	"github.com/leadscore/leadscore/internal/syncbuf"
	"github.com/leadscore/leadscore/processor"
)

// chromium returns the path of a Chromium-family browser, or "".
func chromium() string {
	if p := os.Getenv("LEADSCORE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestConsoleInBrowser drives the web console of a running demo in a real
// browser (Debian's chromium; .ci/run installs it), as a person would: the
// login gate, the funnel against its JSON, a live handoff arriving within a
// second of being produced, clicking it to the lead's page, whose breakdown
// and score match GET /v1/leads/{id}, the leaderboard against GET /v1/leads,
// health, rules, escaping and erase — with no console error. With
// LEADSCORE_CONSOLE_SCREENSHOTS=DIR it saves a screenshot of each page there
// (docs/ holds the ones docs/console.md shows).
func TestConsoleInBrowser(t *testing.T) {
	exe := chromium()
	if exe == "" {
		t.Skip("no chromium found (apt-get install chromium, or set LEADSCORE_CHROMIUM): the browser tests of the web console are skipped")
	}
	if testing.Short() {
		t.Skip("-short: the browser tests are skipped")
	}
	const token = "console-test-token"
	// A day of simulated time a second: the scores decay little between two
	// reads a fraction of a second apart, and journeys still move.
	// The ABM model, as `leadscore demo` plays it from the repository's root
	// (from here it would fall back to the embedded model, which has no
	// accounts): the Accounts pages have accounts to show.
	c := demoCmd{Rules: []string{"../../" + demo.DefaultRules}, Rate: 400, Leads: 40000, Seed: 5, Speedup: 86400,
		Refresh: time.Second, KafkaAddr: "127.0.0.1:0", HTTP: httpFlags{HTTPAddr: "127.0.0.1:0", HTTPToken: token, Console: true},
		Partitions: 2, LogFormat: "text", LogLevel: "warn"}
	cfg, err := c.config()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	out, logs := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	demoCtx, stopDemo := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(demoCtx, cfg, out, logs)
	}()
	defer func() {
		stopDemo()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	base := eventually.Match(t, out, regexp.MustCompile(`open the console at (http://127\.0\.0\.1:\d+)/console/`), 10*time.Second)
	kafkaAddr := eventually.Match(t, out, regexp.MustCompile(`kafka (127\.0\.0\.1:\d+) `), time.Second)

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 900), chromedp.DisableGPU)...)
	defer cancelAlloc()
	bctx, cancelB := chromedp.NewContext(alloc)
	defer cancelB()

	// Every console error, uncaught exception and CSP violation fails the test.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var problems []string
	msgs := chromedp.Console(bctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			// Network errors are expected where the test asks for what does
			// not exist; anything else logged as an error is a problem.
			if (m.Type == chromedp.ConsoleError || m.IsException()) && m.Source != "network" {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	shots := os.Getenv("LEADSCORE_CONSOLE_SCREENSHOTS")
	screenshot := func(t *testing.T, name string) {
		if shots == "" {
			return
		}
		_ = chromedp.Do(bctx, chromedp.Sleep(300*time.Millisecond))
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, "console-"+name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		// Generous: CI runs this beside the long suites on two cores.
		rctx, cancel := context.WithTimeout(bctx, 40*time.Second)
		defer cancel()
		if err := chromedp.Do(rctx, actions...); err != nil {
			if png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil && shots != "" {
				_ = os.WriteFile(filepath.Join(shots, "failed.png"), png, 0o644)
			}
			t.Fatalf("%s: %v", what, err)
		}
	}
	js := func(t *testing.T, what, expr string, v any) {
		t.Helper()
		rctx, cancel := context.WithTimeout(bctx, 40*time.Second)
		defer cancel()
		raw, err := chromedp.Run(rctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if v != nil {
			if err := json.Unmarshal(raw, v); err != nil {
				t.Fatalf("%s: %v (%s)", what, err, raw)
			}
		}
	}
	location := func(t *testing.T) string {
		t.Helper()
		loc, err := chromedp.Run(bctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	text := func(t *testing.T, id string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	apiGet := func(t *testing.T, path string, v any) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode
	}

	if !t.Run("login gate", func(t *testing.T) {
		run(t, "open the console", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("token")))
		if loc := location(t); !strings.HasSuffix(loc, "/console/login") {
			t.Errorf("without a session the console is at %s, want the login form", loc)
		}
		var status int
		js(t, "the console's JSON without a session", `fetch("/console/api/funnel").then(r => r.status)`, &status)
		if status != http.StatusUnauthorized {
			t.Errorf("GET /console/api/funnel without a session: %d", status)
		}
		screenshot(t, "login")
		run(t, "wrong token", chromedp.SendKeys(chromedp.ID("token"), "not-the-token"), chromedp.Submit(chromedp.ID("login")),
			chromedp.WaitVisible(chromedp.ID("failed")))
		run(t, "right token", chromedp.SendKeys(chromedp.ID("token"), token),
			chromedp.Submit(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("funnel")))
		if loc := location(t); !strings.HasSuffix(loc, "/console/") {
			t.Errorf("after login the browser is at %s", loc)
		}
		res, err := chromedp.Call(bctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/console/"}})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, ck := range res.Cookies {
			if ck.Name == console.CookieName {
				found = true
				if !ck.HTTPOnly || ck.SameSite != network.CookieSameSiteStrict {
					t.Errorf("session cookie HttpOnly=%v SameSite=%s, want HttpOnly and Strict", ck.HTTPOnly, ck.SameSite)
				}
			}
		}
		if !found {
			t.Fatalf("no %s cookie after login", console.CookieName)
		}
		var visible bool
		js(t, "document.cookie", `document.cookie.includes("`+console.CookieName+`")`, &visible)
		if visible {
			t.Error("the session cookie is readable from JavaScript")
		}
	}) {
		t.Fatal("the login gate failed; the pages behind it are not tested")
	}

	t.Run("funnel equals its JSON", func(t *testing.T) {
		// The page and a fresh read of the JSON are compared when both saw
		// the same number of stage changes (the demo keeps producing).
		var last string
		for attempt := 0; attempt < 40; attempt++ {
			var got struct {
				Page    map[string]string `json:"page"`
				Changes string            `json:"changes"`
				JSON    console.Funnel    `json:"json"`
			}
			run(t, "funnel", chromedp.Navigate(base+"/console/#/funnel?days=30"), chromedp.Reload(),
				chromedp.WaitVisible(chromedp.CSS("#funnel-stages tbody tr")))
			js(t, "funnel page and JSON", `fetch("/console/api/funnel?days=30").then(r => r.json()).then(j => ({json: j,
				changes: document.getElementById("funnel").dataset.changes,
				page: Object.fromEntries([...document.querySelectorAll("#funnel-stages tbody tr")].map(r => [r.dataset.stage, r.querySelector(".count").textContent]))}))`, &got)
			if len(got.JSON.Models) == 0 || got.Changes != fmt.Sprint(got.JSON.Changes) {
				last = fmt.Sprintf("page at %s changes, JSON at %d", got.Changes, got.JSON.Changes)
				continue
			}
			want := map[string]string{}
			for i, s := range got.JSON.Models[0].Stages {
				if i > 0 {
					want[s.Stage] = fmt.Sprint(s.Leads)
				}
			}
			if fmt.Sprint(got.Page) != fmt.Sprint(want) {
				t.Errorf("at %s stage changes the funnel page shows %v, its JSON %v", got.Changes, got.Page, want)
			}
			screenshot(t, "funnel")
			return
		}
		t.Errorf("the page and the JSON never read the same stage changes: %s", last)
	})

	t.Run("funnel counts equal the API's leaderboards", func(t *testing.T) {
		// The funnel counts leads from the stage-change topic; the API lists
		// them from the state store. The demo does not rest, so the two are
		// compared at readings during which no stage change arrived, until
		// one agrees; each reading asks for another limit, so that the API's
		// cached ranking (2 s) is not reused. A change written to the state
		// but not yet read from the topic can still make a quiet reading
		// differ: only five quiet readings that all differ fail the test.
		var last string
		quiet := 0
		deadline := time.Now().Add(15 * time.Second)
		for attempt := 0; time.Now().Before(deadline) && quiet < 5; attempt++ {
			var before, after console.Funnel
			js(t, "funnel JSON", `fetch("/console/api/funnel?days=30").then(r => r.json())`, &before)
			diff := []string{}
			for i, s := range before.Models[0].Stages {
				if i == 0 || s.Leads >= api.MaxLimit-attempt {
					continue
				}
				var top api.TopLeads
				apiGet(t, fmt.Sprintf("/v1/leads?limit=%d&stage=%s", api.MaxLimit-attempt, s.Stage), &top)
				if len(top.Leads) != s.Leads {
					diff = append(diff, fmt.Sprintf("%s: funnel %d, API %d", s.Stage, s.Leads, len(top.Leads)))
				}
			}
			js(t, "funnel JSON", `fetch("/console/api/funnel?days=30").then(r => r.json())`, &after)
			if after.Changes != before.Changes {
				continue
			}
			if len(diff) == 0 {
				return
			}
			quiet++
			last = strings.Join(diff, "; ")
			time.Sleep(200 * time.Millisecond)
		}
		if quiet < 5 {
			t.Skipf("inconclusive: %d quiet readings in 15 s (the demo kept moving); the last differed by %q", quiet, last)
		}
		t.Errorf("funnel counts never equalled GET /v1/leads?stage=… in %d quiet readings: %s", quiet, last)
	})

	var leadID string
	t.Run("live handoff within a second, click to the lead", func(t *testing.T) {
		run(t, "live", chromedp.Navigate(base+"/console/#/live"), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("live-status")))
		var rows []struct {
			Lead      string `json:"lead"`
			Produced  int64  `json:"produced"`
			Received  int64  `json:"received"`
			Direction string `json:"direction"`
		}
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			js(t, "rows", `[...document.querySelectorAll("#live-feed li.change:not(.backlog)")].map(li => ({lead: li.dataset.lead,
				produced: +li.dataset.produced, received: +li.dataset.received, direction: li.dataset.direction}))`, &rows)
			if len(rows) >= 3 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if len(rows) < 3 {
			t.Fatalf("%d live changes in 20 s", len(rows))
		}
		for _, r := range rows {
			if d := time.Duration(r.Received-r.Produced) * time.Millisecond; d > time.Second || d < -50*time.Millisecond {
				t.Errorf("change of %s shown %s after it was produced, want within 1 s", r.Lead, d)
			}
		}
		screenshot(t, "live")
		var shown []string
		js(t, "filter: down only", `(() => { const s = document.getElementById("filter-direction"); s.value = "down"; s.dispatchEvent(new Event("change"));
			return [...document.querySelectorAll("#live-feed li.change")].filter(li => !li.hidden).map(li => li.dataset.direction); })()`, &shown)
		for _, d := range shown {
			if d != "down" {
				t.Errorf("direction filter 'down' shows a change going %s", d)
			}
		}
		js(t, "filter: sql", `(() => { const d = document.getElementById("filter-direction"); d.value = ""; d.dispatchEvent(new Event("change"));
			const s = document.getElementById("filter-stage"); s.value = "sql"; s.dispatchEvent(new Event("change"));
			return [...document.querySelectorAll("#live-feed li.change")].filter(li => !li.hidden).map(li => li.dataset.from + ">" + li.dataset.to); })()`, &shown)
		for _, d := range shown {
			if from, to, _ := strings.Cut(d, ">"); from != "sql" && to != "sql" {
				t.Errorf("stage filter 'sql' shows %s", d)
			}
		}
		js(t, "filter off", `(() => { const s = document.getElementById("filter-stage"); s.value = ""; s.dispatchEvent(new Event("change")); return true; })()`, nil)
		// Click a handoff that is in the feed now: the feed keeps only the
		// latest ones, and the rows read above may have left it meanwhile.
		js(t, "click the handoff", `(() => { const a = document.querySelector("#live-feed li.change:not(.backlog) a.lead-link");
			if (!a) return ""; a.click(); return a.dataset.lead; })()`, &leadID)
		if leadID == "" {
			t.Fatal("no handoff link in the live feed to click")
		}
		run(t, "the handoff's lead opens", chromedp.WaitVisible(chromedp.ID("score-chart")))
		if loc := location(t); !strings.Contains(loc, "#/lead/") {
			t.Errorf("clicking the handoff of %s opened %s", leadID, loc)
		}
		var shownID string
		js(t, "lead id", `document.getElementById("lead-id").dataset.lead`, &shownID)
		if shownID == "" {
			t.Errorf("the lead page of %s shows no lead", leadID)
		}
		leadID = shownID // the lead the clicked one is now part of, if it was stitched
	})

	t.Run("lead page matches GET /v1/leads", func(t *testing.T) {
		if leadID == "" {
			t.Skip("no lead from the live feed")
		}
		var page struct {
			Lead   string             `json:"lead"`
			At     float64            `json:"at"`
			Score  float64            `json:"score"`
			Points map[string]float64 `json:"points"`
			Sum    float64            `json:"sum"`
			Now    float64            `json:"now"`
			Dots   int                `json:"dots"`
		}
		// The demo goes on scoring: the lead may change between the page's
		// reading and the API's. A mismatch is read again, with the page
		// reloaded, a few times before it counts.
		var problems []string
		for attempt := 0; attempt < 5; attempt++ {
			if attempt > 0 {
				run(t, "lead page reloaded", chromedp.Reload())
			}
			run(t, "lead page", chromedp.WaitVisible(chromedp.ID("breakdown")))
			js(t, "lead page", `(() => {
			const h = document.getElementById("lead-id");
			const now = document.querySelector("#score-chart circle.point.now");
			return {lead: h.dataset.lead, at: +h.dataset.at, score: +h.dataset.score,
				points: Object.fromEntries([...document.querySelectorAll("#breakdown tr[data-rule]")].map(r => [r.dataset.rule, +r.querySelector(".points").dataset.points])),
				sum: +document.getElementById("breakdown-sum").dataset.sum, now: now ? +now.dataset.score : -1e9,
				dots: document.querySelectorAll("#score-chart circle.point").length};
		})()`, &page)
			var want api.Lead
			if code := apiGet(t, "/v1/leads/"+url.PathEscape(page.Lead), &want); code != http.StatusOK {
				t.Fatalf("GET /v1/leads/%s: %d", page.Lead, code)
			}
			at, _ := time.Parse(time.RFC3339Nano, want.At)
			// The API answers a moment later: every contribution has decayed by
			// the same factor since the page's instant (half-life 45 days).
			f := math.Exp2(-float64(at.UnixMilli()-int64(page.At)) / float64(45*24*time.Hour/time.Millisecond))
			problems = nil
			if len(want.Breakdown) != len(page.Points) {
				problems = append(problems, fmt.Sprintf("page breakdown %v, API %v", page.Points, want.Breakdown))
			}
			for _, c := range want.Breakdown {
				got, ok := page.Points[c.Rule]
				if !ok || math.Abs(got*f-c.Points) > 1e-3*math.Max(1, math.Abs(c.Points)) {
					problems = append(problems, fmt.Sprintf("rule %s: page %g (×%.5f = %g), API %g", c.Rule, got, f, got*f, c.Points))
				}
			}
			if math.Abs(page.Score*f-want.Score) > 1e-3*math.Max(1, math.Abs(want.Score)) {
				problems = append(problems, fmt.Sprintf("page score %g (×%.5f), API %g", page.Score, f, want.Score))
			}
			if len(problems) == 0 {
				break
			}
		}
		for _, p := range problems {
			t.Error(p)
		}
		if math.Abs(page.Sum-page.Score) > 1e-3 || math.Abs(page.Now-page.Score) > 1e-3 {
			t.Errorf("score %g, breakdown sum %g, chart's now point %g: want equal", page.Score, page.Sum, page.Now)
		}
		if page.Dots < 2 {
			t.Errorf("the chart has %d points, want the known ones and now", page.Dots)
		}
		screenshot(t, "lead")
	})

	t.Run("leaderboard equals GET /v1/leads", func(t *testing.T) {
		var last string
		for attempt := 0; attempt < 5; attempt++ {
			var page []string
			var want api.TopLeads
			run(t, "leaders", chromedp.Navigate(base+"/console/#/leaders?stage=lead"), chromedp.Reload(),
				chromedp.WaitVisible(chromedp.CSS("#leaders tbody tr")))
			js(t, "leaders", `[...document.querySelectorAll("#leaders tbody tr")].map(r => r.dataset.lead)`, &page)
			apiGet(t, "/v1/leads?stage=lead&limit=50", &want)
			var ids []string
			for _, l := range want.Leads {
				ids = append(ids, l.LeadID)
			}
			if fmt.Sprint(page) == fmt.Sprint(ids) {
				screenshot(t, "leaders")
				return
			}
			last = fmt.Sprintf("page %v\nAPI  %v", page, ids)
			time.Sleep(time.Second)
		}
		t.Errorf("leaderboard differs from GET /v1/leads:\n%s", last)
	})

	t.Run("accounts page equals GET /v1/accounts", func(t *testing.T) {
		// The demo's first model scores accounts: the nav shows the page,
		// which opens on the highest account stage holding accounts.
		var last string
		for attempt := 0; attempt < 5; attempt++ {
			var page struct {
				Nav   bool     `json:"nav"`
				Stage string   `json:"stage"`
				IDs   []string `json:"ids"`
			}
			run(t, "accounts", chromedp.Navigate(base+"/console/#/accounts"), chromedp.Reload(),
				chromedp.WaitVisible(chromedp.CSS("#accounts tbody tr")))
			js(t, "accounts", `({nav: !document.getElementById("nav-accounts").hidden, stage: document.getElementById("account-stage").value,
				ids: [...document.querySelectorAll("#accounts tbody tr")].map(r => r.dataset.account)})`, &page)
			if !page.Nav {
				t.Error("the nav hides the Accounts page under a model with accounts")
			}
			var want api.TopAccounts
			apiGet(t, "/v1/accounts?stage="+url.QueryEscape(page.Stage)+"&limit=50", &want)
			var ids []string
			for _, a := range want.Accounts {
				ids = append(ids, a.AccountID)
			}
			if fmt.Sprint(page.IDs) != fmt.Sprint(ids) {
				last = fmt.Sprintf("stage %s: page %v\nAPI  %v", page.Stage, page.IDs, ids)
				time.Sleep(time.Second)
				continue
			}
			// The first account opens on its page, with its members.
			run(t, "an account's page", chromedp.Click(chromedp.CSS("#accounts tbody tr a.account-link")),
				chromedp.WaitVisible(chromedp.ID("account-id")), chromedp.WaitVisible(chromedp.ID("account-stage")))
			if got := text(t, "account-id"); got != ids[0] {
				t.Errorf("the account page shows %q, want %q", got, ids[0])
			}
			if loc := location(t); !strings.HasSuffix(loc, "#/account/"+url.PathEscape(ids[0])) {
				t.Errorf("account page at %s", loc)
			}
			return
		}
		t.Errorf("accounts page differs from GET /v1/accounts:\n%s", last)
	})

	t.Run("live account changes, click to the account", func(t *testing.T) {
		// The demo's model scores accounts: their stage changes share the
		// live page, and the kind filter shows them alone.
		run(t, "live accounts", chromedp.Navigate(base+"/console/#/live?kind=account"), chromedp.Reload(),
			chromedp.WaitVisible(chromedp.ID("filter-kind")))
		type row struct {
			Kind    string `json:"kind"`
			Account string `json:"account"`
			Href    string `json:"href"`
			Want    string `json:"want"`
		}
		var shown []row
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			js(t, "account rows", `[...document.querySelectorAll("#live-feed li.change")].filter(li => !li.hidden).map(li => ({kind: li.dataset.kind,
				account: li.dataset.account || "", href: (li.querySelector("a.account-link") || {getAttribute: () => ""}).getAttribute("href"),
				want: "#/account/" + encodeURIComponent(li.dataset.account || "")}))`, &shown)
			if len(shown) > 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if len(shown) == 0 {
			t.Fatal("no account stage change on the live page in 20 s")
		}
		for _, r := range shown {
			if r.Kind != "account" || r.Account == "" || r.Href != r.Want {
				t.Errorf("the accounts filter shows %+v, want account changes linking to #/account/{id}", r)
			}
		}
		var leads int
		js(t, "filter: leads", `(() => { const s = document.getElementById("filter-kind"); s.value = "lead"; s.dispatchEvent(new Event("change"));
			return [...document.querySelectorAll("#live-feed li.change")].filter(li => !li.hidden && li.dataset.kind !== "lead").length; })()`, &leads)
		if leads != 0 {
			t.Errorf("the leads filter shows %d account changes", leads)
		}
		var id string
		js(t, "click the account", `(() => { const s = document.getElementById("filter-kind"); s.value = "account"; s.dispatchEvent(new Event("change"));
			const a = [...document.querySelectorAll("#live-feed li.change")].filter(li => !li.hidden).map(li => li.querySelector("a.account-link"))[0];
			if (!a) return ""; a.click(); return a.dataset.account; })()`, &id)
		if id == "" {
			t.Fatal("no account link in the live feed to click")
		}
		run(t, "the account opens", chromedp.WaitVisible(chromedp.ID("account-stage")))
		if got := text(t, "account-id"); got != id {
			t.Errorf("clicking the account change of %s opened the page of %q", id, got)
		}
	})

	if shots != "" {
		// For the documentation: a lead with some history (accepted by sales).
		var id string
		run(t, "sal leaders", chromedp.Navigate(base+"/console/#/leaders?stage=sal"), chromedp.Reload(), chromedp.Sleep(500*time.Millisecond))
		js(t, "a sal lead", `(document.querySelector("#leaders tbody tr") || {dataset: {}}).dataset.lead || ""`, &id)
		if id != "" {
			run(t, "a sal lead's page", chromedp.Navigate(base+"/console/#/lead/"+url.PathEscape(id)), chromedp.WaitVisible(chromedp.ID("score-chart")))
			screenshot(t, "lead")
		}
	}

	t.Run("health and rules", func(t *testing.T) {
		// A poisoned input: its dead letter shows its payload as text.
		poison := `{"type":"track","event":"<img src=x id=pwned2>`
		cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr))
		if err != nil {
			t.Fatal(err)
		}
		err = cl.ProduceSync(ctx, &kgo.Record{Topic: processor.DefaultTopics().Web, Key: []byte("poison"), Value: []byte(poison)}).FirstErr()
		cl.Close()
		if err != nil {
			t.Fatal(err)
		}
		run(t, "health", chromedp.Navigate(base+"/console/#/health"), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("readiness")))
		if ready := text(t, "ready"); ready != "yes" {
			t.Errorf("health says ready %q", ready)
		}
		var dead struct {
			Payloads []string `json:"payloads"`
			Injected int      `json:"injected"`
		}
		js(t, "dead letters", `new Promise(ok => { const f = () => { const p = [...document.querySelectorAll(".dead-letter pre.payload")].map(e => e.textContent);
			p.length ? ok({payloads: p, injected: document.querySelectorAll("#pwned2").length}) : setTimeout(f, 100); }; f(); })`, &dead)
		if !slices.Contains(dead.Payloads, poison) || dead.Injected != 0 {
			t.Errorf("dead letters shown %q (%d injected elements), want the poisoned payload as text", dead.Payloads, dead.Injected)
		}
		run(t, "events/s", chromedp.Sleep(2500*time.Millisecond))
		screenshot(t, "health")
		run(t, "rules", chromedp.Navigate(base+"/console/#/rules"), chromedp.WaitVisible(chromedp.ID("rules-summary")))
		if summary := text(t, "rules-summary"); !strings.Contains(summary, "model b2b-abm") || !strings.Contains(summary, "stages (") {
			t.Errorf("rules page shows %q", summary)
		}
		screenshot(t, "rules")
	})

	t.Run("escaping", func(t *testing.T) {
		hostile := `<img src=x id=pwned><script>window.pwned=1</script>`
		run(t, "a hostile lead id", chromedp.Navigate(base+"/console/#/lead/"+url.PathEscape(hostile)), chromedp.Reload(),
			chromedp.WaitVisible(chromedp.ID("page-error")))
		var got struct {
			Text    string `json:"text"`
			Scripts int    `json:"scripts"`
			Imgs    int    `json:"imgs"`
		}
		js(t, "page", `({text: document.getElementById("page-error").textContent, scripts: document.scripts.length, imgs: document.querySelectorAll("#pwned").length})`, &got)
		if !strings.Contains(got.Text, hostile) || got.Scripts != 1 || got.Imgs != 0 {
			t.Errorf("hostile id: error text %q, %d scripts, %d injected images; want the id as text only", got.Text, got.Scripts, got.Imgs)
		}
	})

	t.Run("erase needs the CSRF token", func(t *testing.T) {
		if leadID == "" {
			t.Skip("no lead from the live feed")
		}
		// The demo goes on: the person's next event may rebuild a lead under
		// the same id right after the erase. Such a lead is new; the erased
		// one's stage changes must be gone from it.
		var before api.Lead
		apiGet(t, "/v1/leads/"+url.PathEscape(leadID), &before)
		var status int
		js(t, "erase without the token", `fetch("/console/api/erase?id=`+url.QueryEscape(leadID)+`", {method: "POST"}).then(r => r.status)`, &status)
		if status != http.StatusForbidden {
			t.Errorf("erase without the CSRF token: %d, want 403", status)
		}
		run(t, "erase from the lead's page", chromedp.Navigate(base+"/console/#/lead/"+url.PathEscape(leadID)), chromedp.Reload(),
			chromedp.WaitVisible(chromedp.ID("erase")), chromedp.Click(chromedp.ID("erase")),
			chromedp.WaitVisible(chromedp.ID("erase-confirm")), chromedp.Click(chromedp.ID("erase-confirm")))
		var result string
		js(t, "erase result", `new Promise(ok => { const f = () => { const t = document.getElementById("erase-result").textContent; t ? ok(t) : setTimeout(f, 50); }; f(); })`, &result)
		if !strings.HasPrefix(result, "erased ") {
			t.Fatalf("erase: %q", result)
		}
		var after api.Lead
		if code := apiGet(t, "/v1/leads/"+url.PathEscape(strings.TrimPrefix(result, "erased ")), &after); code == http.StatusOK {
			erased := map[string]bool{}
			for _, tr := range before.RecentTransitions {
				erased[tr.ID] = true
			}
			for _, tr := range after.RecentTransitions {
				if erased[tr.ID] {
					t.Errorf("after erase the lead still has the stage change %s (%s→%s at %s)", tr.ID, tr.From, tr.To, tr.At)
				}
			}
			if len(before.RecentTransitions) == 0 {
				t.Errorf("after erase GET /v1/leads answers 200, and the lead had no stage change to tell a rebuilt one by")
			}
			t.Logf("after erase the demo's next event rebuilt %s (%d stage changes, none of the erased %d)", after.LeadID, len(after.RecentTransitions), len(before.RecentTransitions))
		} else if code != http.StatusNotFound {
			t.Errorf("after erase GET /v1/leads answers %d", code)
		}
	})

	t.Run("logout", func(t *testing.T) {
		run(t, "log out", chromedp.Navigate(base+"/console/#/rules"), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#logout button")),
			chromedp.Click(chromedp.CSS("#logout button")), chromedp.WaitVisible(chromedp.ID("token")))
		if loc := location(t); !strings.HasSuffix(loc, "/console/login") {
			t.Errorf("after logout at %s", loc)
		}
	})

	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
}
