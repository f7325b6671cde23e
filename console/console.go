// Package console is leadscore's web console: the funnel, the live handoffs,
// the leaderboards, each lead's score over time with its reasons, the
// processor's health and the rules in force, for the marketing-ops and sales
// people who read scoring rather than curl it.
//
// It is served under /console/ by the same HTTP server as the API (Handler
// wraps the API's handler), from assets embedded in the binary: static HTML,
// one stylesheet and one script (no inline script or style, so the
// Content-Security-Policy allows none), which read the console's JSON under
// /console/api/. Lead views come from the API itself (api.API.Lookup,
// Leaderboard), so the console shows what GET /v1/leads answers; the funnel,
// the live feed and the dead letters come from a tail of the output topics
// (Feed, TailKafka); the health figures from the /metrics handler.
//
// Security: when the API has a token, the console asks for it once in a login
// form and keeps a session in an HttpOnly, SameSite=Strict cookie; erasing a
// lead also needs the session's CSRF token in a header. Every page is built
// with DOM text nodes (nothing received is parsed as HTML).
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

//go:embed assets
var assets embed.FS

// Prefix is where the console is served.
const Prefix = "/console/"

// CookieName is the session cookie.
const CookieName = "leadscore_console"

// CSRFHeader carries the session's CSRF token on state-changing requests.
const CSRFHeader = "X-CSRF-Token"

// ContentSecurityPolicy is sent with every console response: scripts, styles
// and connections only from the console's own origin, no inline code, no
// framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Config configures the console. API is required; New validates it.
type Config struct {
	// API is the API the console shows; Next serves every request outside
	// /console/ (default: API).
	API  *api.API
	Next http.Handler
	// Token is the API's bearer token; empty: the console is open, as the
	// API is.
	Token string
	// Feed is the tail of the output topics (nil: no funnel, live feed or
	// dead letters; the pages say so).
	Feed *Feed
	// Metrics is the /metrics handler the health view reads (nil: none).
	Metrics http.Handler
	// RulesSummary returns the model in force as `leadscore rules check`
	// summarises it.
	RulesSummary func() string
	// MQL and SQL name the stages of the MQL → SQL figures (default "mql" and
	// "sql"; a model without them shows no rate).
	MQL, SQL string
	// SessionTTL is how long a login lasts (default 12 h).
	SessionTTL time.Duration
	// MaxSessions bounds the sessions kept (default 10 000; the oldest go).
	MaxSessions int
	// FailedLoginDelay is how long a wrong token waits for its answer
	// (default 500 ms; negative: none).
	FailedLoginDelay time.Duration
	Logger           *slog.Logger
}

// Console is the HTTP handler. It is safe for concurrent use.
type Console struct {
	cfg      Config
	mux      *http.ServeMux
	static   http.Handler
	want     [32]byte // digest of the token
	openCSRF string   // the CSRF token when there is no login

	mu       sync.Mutex
	sessions map[string]session
	rate     rater

	closing   chan struct{} // closed by Close: live streams end
	closeOnce sync.Once
}

// Close ends the live streams in progress, so that a graceful shutdown of the
// server does not wait for them (a browser reconnects on its own). The
// console keeps serving everything else.
func (c *Console) Close() {
	c.closeOnce.Do(func() { close(c.closing) })
}

type session struct {
	csrf    string
	expires time.Time
}

// New validates cfg and returns the console.
func New(cfg Config) (*Console, error) {
	if cfg.API == nil {
		return nil, errors.New("console: API is required")
	}
	if cfg.Next == nil {
		cfg.Next = cfg.API
	}
	if cfg.MQL == "" {
		cfg.MQL = "mql"
	}
	if cfg.SQL == "" {
		cfg.SQL = "sql"
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.FailedLoginDelay == 0 {
		cfg.FailedLoginDelay = 500 * time.Millisecond
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("console: assets: %w", err)
	}
	c := &Console{cfg: cfg, mux: http.NewServeMux(), static: http.FileServerFS(sub), sessions: map[string]session{},
		want: sha256.Sum256([]byte(cfg.Token)), openCSRF: randomToken(), closing: make(chan struct{})}
	c.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusFound)
	})
	c.mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusFound)
	})
	c.mux.HandleFunc("GET /console/{$}", c.page("index.html", true))
	c.mux.HandleFunc("GET /console/login", c.page("login.html", false))
	c.mux.HandleFunc("POST /console/login", c.login)
	c.mux.HandleFunc("POST /console/logout", c.logout)
	c.mux.HandleFunc("GET /console/assets/{file}", c.asset)
	c.mux.Handle("GET /console/api/session", c.auth(c.session))
	c.mux.Handle("GET /console/api/funnel", c.auth(c.funnel))
	c.mux.Handle("GET /console/api/leaders", c.auth(c.leaders))
	c.mux.Handle("GET /console/api/lead", c.auth(c.perLead(c.lead)))
	c.mux.Handle("GET /console/api/accounts", c.auth(c.accounts))
	c.mux.Handle("GET /console/api/account", c.auth(c.perRecord("account", c.account)))
	c.mux.Handle("GET /console/api/stream", c.auth(c.stream))
	c.mux.Handle("GET /console/api/health", c.auth(c.health))
	c.mux.Handle("GET /console/api/rules", c.auth(c.rules))
	c.mux.Handle("POST /console/api/erase", c.auth(c.csrf(c.perLead(c.erase))))
	c.mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such console route: "+r.Method+" "+r.URL.Path)
	})
	return c, nil
}

// ServeHTTP serves the console under /console/ (and redirects / there), and
// passes every other request to the API.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/console" && !strings.HasPrefix(r.URL.Path, Prefix) {
		c.cfg.Next.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // not no-referrer: with it, browsers send "Origin: null" on form posts
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, api.MaxBodyBytes)
	}
	c.mux.ServeHTTP(w, r)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// authenticated returns the request's session, if it has a valid one (or the
// open session when there is no token).
func (c *Console) authenticated(r *http.Request) (session, bool) {
	if c.cfg.Token == "" {
		return session{csrf: c.openCSRF}, true
	}
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return session{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[ck.Value]
	if !ok || time.Now().After(s.expires) {
		delete(c.sessions, ck.Value)
		return session{}, false
	}
	return s, true
}

type ctxKey struct{}

func (c *Console) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.authenticated(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "unauthorized", "log in to the console first")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	})
}

// csrf requires the session's CSRF token in the X-CSRF-Token header, and a
// same-origin request when the browser says where it comes from.
func (c *Console) csrf(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, _ := r.Context().Value(ctxKey{}).(session)
		got := r.Header.Get(CSRFHeader)
		if s.csrf == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 || !sameOrigin(r) {
			writeError(w, http.StatusForbidden, "csrf", "missing or wrong CSRF token")
			return
		}
		h(w, r)
	}
}

// sameOrigin is false when the request says it comes from another site.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

func (c *Console) page(name string, protected bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, ok := c.authenticated(r)
		switch {
		case protected && !ok:
			http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
			return
		case !protected && ok && c.cfg.Token == "":
			http.Redirect(w, r, Prefix, http.StatusSeeOther)
			return
		}
		b, err := assets.ReadFile("assets/" + name)
		if err != nil {
			http.Error(w, "missing asset", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
	}
}

func (c *Console) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if !strings.HasSuffix(name, ".js") && !strings.HasSuffix(name, ".css") {
		writeError(w, http.StatusNotFound, "not_found", "no such asset")
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + name
	w.Header().Set("Cache-Control", "no-cache")
	c.static.ServeHTTP(w, r2)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "csrf", "cross-site login refused")
		return
	}
	if c.cfg.Token == "" {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Redirect(w, r, Prefix+"login?failed=1", http.StatusSeeOther)
		return
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(r.PostForm.Get("token"))))
	if subtle.ConstantTimeCompare(got[:], c.want[:]) != 1 {
		c.cfg.Logger.Warn("console: failed login", "remote", r.RemoteAddr)
		// A pause slows a guesser down (one guess per connection at a time).
		select {
		case <-time.After(c.cfg.FailedLoginDelay):
		case <-r.Context().Done():
		}
		http.Redirect(w, r, Prefix+"login?failed=1", http.StatusSeeOther)
		return
	}
	sid := randomToken()
	now := time.Now()
	c.mu.Lock()
	for id, s := range c.sessions {
		if now.After(s.expires) {
			delete(c.sessions, id)
		}
	}
	for len(c.sessions) >= c.cfg.MaxSessions {
		var oldest string
		var at time.Time
		for id, s := range c.sessions {
			if oldest == "" || s.expires.Before(at) {
				oldest, at = id, s.expires
			}
		}
		delete(c.sessions, oldest)
	}
	c.sessions[sid] = session{csrf: randomToken(), expires: now.Add(c.cfg.SessionTTL)}
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: sid, Path: "/console", MaxAge: int(c.cfg.SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "csrf", "cross-site logout refused")
		return
	}
	if ck, err := r.Cookie(CookieName); err == nil {
		c.mu.Lock()
		delete(c.sessions, ck.Value)
		c.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/console", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, api.Error{Error: api.ErrorBody{Code: code, Message: msg}})
}

func (c *Console) storeError(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, errNoAccounts):
		writeError(w, http.StatusNotFound, api.CodeNoAccounts, err.Error())
	case errors.Is(err, state.ErrNotFound):
		writeError(w, http.StatusNotFound, api.CodeNotFound, what+" not found")
	case state.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "the state store is unavailable; retry later")
	default:
		c.cfg.Logger.Error("console: store error", "err", err)
		writeError(w, http.StatusInternalServerError, api.CodeInternal, "internal error")
	}
}

func (c *Console) stages() Stages {
	m := c.cfg.API.Engine().Model()
	return Stages{MQL: c.cfg.MQL, SQL: c.cfg.SQL, Order: m.StageNames()}
}

// Session is the answer of GET /console/api/session.
type Session struct {
	Auth         bool     `json:"auth"`
	CSRF         string   `json:"csrf"`
	ModelVersion string   `json:"model_version"`
	Stages       []string `json:"stages"`
	MQL          string   `json:"mql"`
	SQL          string   `json:"sql"`
	Now          string   `json:"now"`
	Feed         bool     `json:"feed"`
	// AccountStages are the account stages of the first model that scores
	// accounts (the one the account pages show), empty when none does: the
	// console then hides its Accounts page.
	AccountStages []string `json:"account_stages"`
}

func (c *Console) session(w http.ResponseWriter, r *http.Request) {
	s, _ := r.Context().Value(ctxKey{}).(session)
	st := c.stages()
	writeJSON(w, http.StatusOK, Session{Auth: c.cfg.Token != "", CSRF: s.csrf, ModelVersion: c.cfg.API.Engine().Model().Version,
		Stages: st.Order, MQL: st.MQL, SQL: st.SQL, Now: c.cfg.API.Now().UTC().Format(time.RFC3339Nano), Feed: c.cfg.Feed != nil,
		AccountStages: accountStages(c.accountEngine())})
}

// MaxPeriodDays bounds the funnel's period.
const MaxPeriodDays = maxDays

func (c *Console) funnel(w http.ResponseWriter, r *http.Request) {
	days := 30
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPeriodDays {
			writeError(w, http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf("days %q: want 1 to %d", s, MaxPeriodDays))
			return
		}
		days = n
	}
	if c.cfg.Feed == nil {
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "no stage-change feed in this process")
		return
	}
	writeJSON(w, http.StatusOK, c.cfg.Feed.Funnel(c.cfg.API.Now(), time.Duration(days)*24*time.Hour, c.stages()))
}

// Leaders is the answer of GET /console/api/leaders.
type Leaders struct {
	Stage string     `json:"stage"`
	At    string     `json:"at"`
	Leads []api.Lead `json:"leads"`
}

func (c *Console) leaders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 25
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			writeError(w, http.StatusBadRequest, api.CodeInvalidLimit, fmt.Sprintf("limit %q: want 1 to 200", s))
			return
		}
		limit = n
	}
	stage := q.Get("stage")
	if c.cfg.API.Engine().Model().StageIndex(stage) < 0 {
		writeError(w, http.StatusBadRequest, api.CodeUnknownStage, fmt.Sprintf("stage %q is not a stage of the model", stage))
		return
	}
	leads, err := c.cfg.API.Leaderboard(r.Context(), "", stage, limit)
	if err != nil {
		c.storeError(w, "stage "+strconv.Quote(stage), err)
		return
	}
	writeJSON(w, http.StatusOK, Leaders{Stage: stage, At: c.cfg.API.Now().UTC().Format(time.RFC3339Nano), Leads: leads})
}

// perLead serves an endpoint about one lead (?id=): it requires the id, bounds
// the store's work on it, and answers serve's result, or its store error as
// one about that lead.
func (c *Console) perLead(serve func(ctx context.Context, id string) (any, error)) http.HandlerFunc {
	return c.perRecord("lead", serve)
}

// perRecord is perLead for a record of any kind (what: "lead", "account").
func (c *Console) perRecord(what string, serve func(ctx context.Context, id string) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		if id == "" {
			writeError(w, http.StatusBadRequest, api.CodeBadRequest, "id is required")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		out, err := serve(ctx, id)
		if err != nil {
			c.storeError(w, what+" "+strconv.Quote(id), err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (c *Console) lead(ctx context.Context, id string) (any, error) {
	lead, st, err := c.cfg.API.Lookup(ctx, id, "")
	if err != nil {
		return nil, err
	}
	return newLeadView(c.cfg.API.Engine(), lead, st, c.cfg.API.Now().UnixMilli()), nil
}

func (c *Console) erase(ctx context.Context, id string) (any, error) {
	return c.cfg.API.Erase(ctx, id)
}

// CheckTail names the health check of the console's reader of the output
// topics (Kafka).
const CheckTail = "kafka (console: output topics)"

// Health is the answer of GET /console/api/health.
type Health struct {
	Readiness   api.Readiness `json:"readiness"`
	Metrics     Metrics       `json:"metrics"`
	DeadLetters *DeadLetters  `json:"dead_letters"`
}

func (c *Console) health(w http.ResponseWriter, r *http.Request) {
	m, err := readMetrics(c.cfg.Metrics, &c.rate)
	if err != nil {
		c.cfg.Logger.Warn("console: reading metrics", "err", err)
	}
	out := Health{Readiness: c.cfg.API.Ready(r.Context()), Metrics: m}
	if c.cfg.Feed != nil {
		d := c.cfg.Feed.DeadLetters()
		out.DeadLetters = &d
		// The console's own Kafka reader: not part of the process's
		// readiness, but what the funnel and the live feed depend on.
		caught, terr := c.cfg.Feed.Status()
		switch {
		case terr != "":
			out.Readiness.Checks[CheckTail] = terr
		case !caught:
			out.Readiness.Checks[CheckTail] = "reading the topics' history"
		default:
			out.Readiness.Checks[CheckTail] = "ok"
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Rules is the answer of GET /console/api/rules.
type Rules struct {
	Version string `json:"version"`
	Summary string `json:"summary"`
}

func (c *Console) rules(w http.ResponseWriter, _ *http.Request) {
	out := Rules{Version: c.cfg.API.Engine().Model().Version}
	if c.cfg.RulesSummary != nil {
		out.Summary = c.cfg.RulesSummary()
	}
	writeJSON(w, http.StatusOK, out)
}

// streamKeepAlive is how often an idle live feed sends a comment, so proxies
// keep the connection.
const streamKeepAlive = 15 * time.Second

// stream sends the feed's stage changes as Server-Sent Events ("change"
// events, the latest ones first marked as backlog; an account's are
// "account-change" and "account-backlog"), until the client leaves.
func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Feed == nil {
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "no stage-change feed in this process")
		return
	}
	rc := http.NewResponseController(w)
	// The server's read and write timeouts would cut the stream.
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	backlog, ch, cancel := c.cfg.Feed.Subscribe()
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	for _, l := range backlog {
		ev, b := marshalLive(l, "backlog")
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev, b)
	}
	fmt.Fprint(w, "event: ready\ndata: {}\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	tick := time.NewTicker(streamKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.closing:
			return
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case l := <-ch:
			ev, b := marshalLive(l, "change")
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev, b)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// fitRuleView is one fit rule as the lead's page shows it.
type fitRuleView struct {
	Name    string  `json:"name"`
	Points  float64 `json:"points"`
	Trait   string  `json:"trait"`
	Value   *string `json:"value"`
	Matched bool    `json:"matched"`
}

// fitRules evaluates the model's fit rules on the lead's traits, as the
// engine does: each rule looks at the first of its trait paths present.
func fitRules(m *scoring.Model, traits scoring.Props) []fitRuleView {
	out := []fitRuleView{}
	for _, r := range m.Fit.Rules {
		v := fitRuleView{Name: r.Name, Points: r.Points}
		if len(r.Traits) > 0 {
			v.Trait = r.Traits[0]
		}
		for _, path := range r.Traits {
			if _, ok := traits.Get(path); !ok {
				continue
			}
			v.Trait = path
			for _, p := range traits {
				if p.Key != path {
					continue
				}
				s := p.Str
				if v.Value == nil {
					v.Value = &s
				}
				if r.Cond.Match(p) {
					v.Matched, v.Value = true, &s
					break
				}
			}
			break
		}
		if v.Value == nil && r.Cond.Exists != nil && !*r.Cond.Exists {
			v.Matched = true
		}
		out = append(out, v)
	}
	return out
}
