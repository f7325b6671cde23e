// Package api is leadscore's HTTP API, for sales tools and ops: a lead's
// current (decayed) score, stage, fit, score breakdown, identities and recent
// transitions; the top leads of a stage; erasure; an account's engagement,
// members and stage, and the top accounts of an account stage; health,
// readiness and Prometheus metrics. The routes, payloads and error codes are described by
// schemas/openapi.yaml and docs/api.md.
//
// The handler reads the state store directly (state.Store): it works beside
// a running processor, whose engine it uses to compute scores at the current
// instant. It uses the standard library's ServeMux; errors are JSON objects
// with a machine-readable code.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// Store is the part of the state store the API uses; *state.Store implements
// it.
type Store interface {
	Get(ctx context.Context, leadID string) (state.Record, error)
	Resolve(ctx context.Context, identities []string) (map[string]string, error)
	Top(ctx context.Context, stage string, limit int) ([]state.Ranked, error)
	Erase(ctx context.Context, leadID string) error
	// Write is used by erasure, to remove the erased person from their
	// accounts (compare-and-set, as the processor writes them).
	Write(ctx context.Context, updates []state.Update) ([]state.Result, error)
	Ping(ctx context.Context) error
	// NamesUpTo is the name dictionary lead records are decoded with,
	// caught up with the ids a record names (scoring.MaxNameID).
	NamesUpTo(ctx context.Context, id uint64) (*state.NameDict, error)
}

// Config configures the API. Store and Models are required; New validates it.
type Config struct {
	// Store is the state store the processor writes.
	Store Store
	// Models returns the scoring models in force (processor.Models, which
	// follows rules reloads).
	Models func() *scoring.Set
	// Ready reports the processor's readiness (processor.Ready): nil when its
	// last cycle reached Kafka and Redis. Nil: only Redis is checked.
	Ready func() error
	// Now is the clock at which scores are computed (default time.Now; the
	// demo passes its simulated clock).
	Now func() time.Time
	// Token, when set, is the bearer token that every /v1 request must
	// present (Authorization: Bearer <token>). /healthz, /readyz and /metrics
	// stay open.
	Token string
	// Metrics serves GET /metrics (telemetry.MetricsHandler); nil: 404.
	Metrics http.Handler
	// Logger receives request logs (debug) and server-side errors. Default
	// slog.Default(). Use a redacting handler: paths hold lead ids, which may
	// be e-mail addresses.
	Logger *slog.Logger
	// TopCacheTTL is how long a leaderboard read is reused (default 2 s):
	// state.Store.Top scans every record bucket's summary and is too costly to
	// run per request. Scores are still decayed to the request's instant.
	TopCacheTTL time.Duration
	// Timeout bounds the store calls of one request (default 5 s).
	Timeout time.Duration
}

// DefaultTopCacheTTL is Config.TopCacheTTL's default.
const DefaultTopCacheTTL = 2 * time.Second

// Limits of GET /v1/leads.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// maxHops bounds how many merged (tombstoned) leads a lookup follows.
const maxHops = 8

// API is the HTTP handler. It is safe for concurrent use.
type API struct {
	cfg Config
	mux *http.ServeMux

	topMu sync.Mutex
	tops  map[topKey]topEntry
}

type topKey struct {
	stage string
	limit int
}

type topEntry struct {
	at    time.Time
	ranks []state.Ranked
}

// New validates cfg and returns the handler.
func New(cfg Config) (*API, error) {
	if cfg.Store == nil || cfg.Models == nil {
		return nil, errors.New("api: Store and Models are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TopCacheTTL <= 0 {
		cfg.TopCacheTTL = DefaultTopCacheTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	a := &API{cfg: cfg, mux: http.NewServeMux(), tops: map[topKey]topEntry{}}
	a.mux.Handle("GET /v1/leads/{id...}", a.auth(a.getLead))
	a.mux.Handle("DELETE /v1/leads/{id...}", a.auth(a.deleteLead))
	a.mux.Handle("/v1/leads/{id...}", methodNotAllowed("GET, DELETE"))
	a.mux.Handle("GET /v1/leads", a.auth(a.topLeads))
	a.mux.Handle("/v1/leads", methodNotAllowed("GET"))
	a.mux.Handle("GET /v1/accounts/{id...}", a.auth(a.getAccount))
	a.mux.Handle("/v1/accounts/{id...}", methodNotAllowed("GET"))
	a.mux.Handle("GET /v1/accounts", a.auth(a.topAccounts))
	a.mux.Handle("/v1/accounts", methodNotAllowed("GET"))
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.mux.Handle("/healthz", methodNotAllowed("GET"))
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.Handle("/readyz", methodNotAllowed("GET"))
	if cfg.Metrics != nil {
		a.mux.Handle("GET /metrics", cfg.Metrics)
		a.mux.Handle("/metrics", methodNotAllowed("GET"))
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such route: "+r.Method+" "+r.URL.Path)
	})
	return a, nil
}

// Request limits. No route reads a body, and lead ids and identities are
// short: anything larger is refused before routing, so an unauthenticated
// client cannot make the server buffer or parse much.
const (
	// MaxURIBytes bounds the request target (path and query).
	MaxURIBytes = 4 << 10
	// MaxBodyBytes bounds a request body (reads beyond it fail).
	MaxBodyBytes = 4 << 10
	// MaxHeaderBytes bounds the request line and headers together, blank
	// line included: a longer request head is answered 431 by the server.
	MaxHeaderBytes = 16 << 10
)

// headerSlack is what net/http reads beyond http.Server.MaxHeaderBytes before
// it gives up on a request head; Serve subtracts it so that the limit in force
// is MaxHeaderBytes.
const headerSlack = 4096

// ServeHTTP implements http.Handler; it logs every request at debug level.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	switch {
	case len(r.RequestURI) > MaxURIBytes || len(r.URL.RawQuery)+len(r.URL.EscapedPath()) > MaxURIBytes:
		writeError(sw, http.StatusRequestURITooLong, CodeTooLarge, fmt.Sprintf("the request target is longer than %d bytes", MaxURIBytes))
	case r.ContentLength > MaxBodyBytes:
		writeError(sw, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes))
	default:
		if r.Body != nil {
			r.Body = http.MaxBytesReader(sw, r.Body, MaxBodyBytes)
		}
		a.mux.ServeHTTP(sw, r)
	}
	a.cfg.Logger.LogAttrs(r.Context(), slog.LevelDebug, "http request", slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Int("status", sw.code), slog.Duration("took", time.Since(start)))
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Error codes of the JSON error body.
const (
	CodeNotFound         = "not_found"
	CodeBadRequest       = "bad_request"
	CodeUnknownStage     = "unknown_stage"
	CodeUnknownModel     = "unknown_model"
	CodeNoAccounts       = "no_accounts"
	CodeInvalidLimit     = "invalid_limit"
	CodeUnauthorized     = "unauthorized"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
	CodeTooLarge         = "too_large"
)

// Error is the body of every error response.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody says what went wrong: Code is stable, Message is for people.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, Error{Error: ErrorBody{Code: code, Message: msg}})
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, r.Method+" is not allowed here; use "+allow)
	})
}

// auth requires the bearer token, when one is configured.
func (a *API) auth(h http.HandlerFunc) http.Handler {
	if a.cfg.Token == "" {
		return h
	}
	// Digests are compared, not the tokens: ConstantTimeCompare returns early
	// on a length mismatch, which would tell a client the token's length.
	want := sha256.Sum256([]byte(a.cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearerToken(r.Header.Get("Authorization"))
		digest := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(digest[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="leadscore"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "a valid bearer token is required")
			return
		}
		h(w, r)
	})
}

// bearerToken returns the token of an Authorization header value that uses the
// Bearer scheme. Auth schemes are case-insensitive (RFC 9110 §11.1), so
// "bearer x" and "BEARER x" carry a token as "Bearer x" does.
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// storeError answers a failed store call.
func (a *API) storeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, state.ErrNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, what+" not found")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil: // the client went away
		a.cfg.Logger.Debug("api: request cancelled", "path", r.URL.Path)
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "request cancelled")
	case state.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, state.ErrConflict):
		a.cfg.Logger.Warn("api: state store unavailable", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "the state store is unavailable; retry later")
	default:
		a.cfg.Logger.Error("api: state store error", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "internal error")
	}
}

// find returns the record of the lead that id names: the lead itself, the lead
// it was merged into, or the lead an identity key ("email:…", "anon:…",
// "user:…") belongs to. It returns an error wrapping state.ErrNotFound when
// there is none.
func (a *API) find(ctx context.Context, id string) (state.Record, error) {
	if state.IsAccountRecord(id) {
		// An account's record, beside the leads in the store: not a lead,
		// and not to be erased as one.
		return state.Record{}, fmt.Errorf("lead %q: %w", id, state.ErrNotFound)
	}
	var rec state.Record
	err := state.ValidRecordID(id)
	if err == nil {
		rec, err = a.cfg.Store.Get(ctx, id)
	}
	if err != nil && (errors.Is(err, state.ErrNotFound) || state.ValidRecordID(id) != nil) {
		// No record by that id (or none can have it: a long e-mail address
		// is still an identity the index knows).
		rec, err = a.byIdentity(ctx, id)
	}
	for hops := 0; err == nil && rec.MergedInto != "" && hops < maxHops; hops++ {
		rec, err = a.cfg.Store.Get(ctx, rec.MergedInto)
	}
	if err == nil && rec.MergedInto != "" {
		err = fmt.Errorf("lead %s: too many merges: %w", id, state.ErrNotFound)
	}
	return rec, err
}

// byIdentity looks id up in the identity index, e-mail addresses in lower case.
func (a *API) byIdentity(ctx context.Context, id string) (state.Record, error) {
	notFound := fmt.Errorf("lead %q: %w", id, state.ErrNotFound)
	if rest, ok := strings.CutPrefix(id, scoring.PrefixEmail); ok && rest != strings.ToLower(rest) {
		id = scoring.PrefixEmail + strings.ToLower(rest)
		if rec, err := a.cfg.Store.Get(ctx, id); !errors.Is(err, state.ErrNotFound) {
			return rec, err
		}
	}
	if !strings.HasPrefix(id, scoring.PrefixUser) && !strings.HasPrefix(id, scoring.PrefixEmail) && !strings.HasPrefix(id, scoring.PrefixAnon) {
		return state.Record{}, notFound
	}
	idx, err := a.cfg.Store.Resolve(ctx, []string{id})
	if err != nil {
		return state.Record{}, err
	}
	l := idx[id]
	if l == "" || l == id || l == state.HomeLeadID(id) {
		return state.Record{}, notFound
	}
	return a.cfg.Store.Get(ctx, l)
}

// leadID returns the {id} path value, or answers 404 and returns "".
func leadID(w http.ResponseWriter, r *http.Request) string {
	id := r.PathValue("id")
	if id == "" {
		writeError(w, http.StatusNotFound, CodeNotFound, "no lead id in the path")
	}
	return id
}

func (a *API) getLead(w http.ResponseWriter, r *http.Request) {
	id := leadID(w, r)
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
	defer cancel()
	lead, _, err := a.Lookup(ctx, id, r.URL.Query().Get("model"))
	var um unknownModelError
	if errors.As(err, &um) {
		writeError(w, http.StatusBadRequest, CodeUnknownModel, um.Error())
		return
	}
	if errors.Is(err, errCorrupt) {
		writeError(w, http.StatusInternalServerError, CodeInternal, "the lead's state cannot be decoded")
		return
	}
	if err != nil {
		a.storeError(w, r, "lead "+strconv.Quote(id), err)
		return
	}
	writeJSON(w, http.StatusOK, lead)
}

var errCorrupt = errors.New("corrupt lead state")

// unknownModelError is a ?model= that names no model the process runs.
type unknownModelError struct {
	name  string
	names []string
}

func (e unknownModelError) Error() string {
	return fmt.Sprintf("model %q is not a model of this process (one of: %s)", e.name, strings.Join(e.names, ", "))
}

// model finds the model named name; "" is the first.
func (a *API) model(name string) (*scoring.Set, int, error) {
	set := a.cfg.Models()
	if name == "" {
		return set, 0, nil
	}
	i, ok := set.Find(name)
	if !ok {
		return nil, 0, unknownModelError{name, set.Names()}
	}
	return set, i, nil
}

// Lookup returns what GET /v1/leads/{id}?model= answers for id and model
// ("": the first model), and the lead's decoded state under that model
// (for views that show more of it, such as the console's traits). The error
// wraps state.ErrNotFound when no lead is known by id.
func (a *API) Lookup(ctx context.Context, id, model string) (Lead, *scoring.State, error) {
	set, sel, err := a.model(model)
	if err != nil {
		return Lead{}, nil, err
	}
	rec, err := a.find(ctx, id)
	if err != nil {
		return Lead{}, nil, err
	}
	names, err := a.cfg.Store.NamesUpTo(ctx, scoring.MaxNameID(rec.Data))
	if err != nil {
		return Lead{}, nil, err
	}
	l, err := set.DecodeNames(rec.Data, names)
	if err != nil {
		a.cfg.Logger.Error("api: corrupt lead state", "lead", rec.LeadID, "err", err)
		return Lead{}, nil, fmt.Errorf("lead %s: %w: %v", rec.LeadID, errCorrupt, err)
	}
	lead := newLead(set, sel, rec, &l, a.cfg.Now().UnixMilli())
	if rec.LeadID != id {
		lead.RequestedID = id
	}
	return lead, &l.States[sel], nil
}

// Engine returns the engine of the first model in force (the one lookups
// and leaderboards show without ?model=).
func (a *API) Engine() *scoring.Engine { return a.cfg.Models().Engines()[0] }

// Models returns the models in force.
func (a *API) Models() *scoring.Set { return a.cfg.Models() }

// Now returns the API's clock (the demo's simulated time).
func (a *API) Now() time.Time { return a.cfg.Now() }

func (a *API) deleteLead(w http.ResponseWriter, r *http.Request) {
	id := leadID(w, r)
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
	defer cancel()
	erased, err := a.Erase(ctx, id)
	if err != nil {
		a.storeError(w, r, "lead "+strconv.Quote(id), err)
		return
	}
	writeJSON(w, http.StatusOK, erased)
}

// Erase erases the lead that id names, as DELETE /v1/leads/{id} does: it
// first removes the person from their accounts (leaveAccounts), then erases
// the lead. The error wraps state.ErrNotFound when no lead is known by id.
// On an error nothing of the lead is erased yet, and the call can be
// repeated: the accounts are left before the lead goes because the lead's
// state is what says which accounts it is in.
func (a *API) Erase(ctx context.Context, id string) (Erased, error) {
	rec, err := a.find(ctx, id)
	if err != nil {
		return Erased{}, err
	}
	if err := a.leaveAccounts(ctx, rec); err != nil {
		return Erased{}, fmt.Errorf("erase: %w", err)
	}
	if err := a.cfg.Store.Erase(ctx, rec.LeadID); err != nil {
		return Erased{}, err
	}
	a.topMu.Lock()
	clear(a.tops) // the erased lead must not be listed any more, nor its accounts at their old engagement
	a.topMu.Unlock()
	a.cfg.Logger.Info("lead erased", "lead", rec.LeadID)
	return Erased{LeadID: rec.LeadID, Erased: true}, nil
}

// Ready runs the readiness checks of GET /readyz.
func (a *API) Ready(ctx context.Context) Readiness {
	out := Readiness{Ready: true, Checks: map[string]string{}}
	if a.cfg.Ready != nil {
		out.Checks["processor"] = "ok"
		if err := a.cfg.Ready(); err != nil {
			out.Ready, out.Checks["processor"] = false, err.Error()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	out.Checks["redis"] = "ok"
	if err := a.cfg.Store.Ping(ctx); err != nil {
		out.Ready, out.Checks["redis"] = false, err.Error()
	}
	return out
}

// Erased is the answer to DELETE /v1/leads/{id}.
type Erased struct {
	// LeadID is the lead erased: the one the requested id named (an identity
	// or a merged lead leads to the lead that holds it now).
	LeadID string `json:"lead_id"`
	Erased bool   `json:"erased"`
}

func (a *API) topLeads(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	stage := q.Get("stage")
	set, sel, err := a.model(q.Get("model"))
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeUnknownModel, err.Error())
		return
	}
	eng := set.Engines()[sel]
	if stage == "" || eng.Model().StageIndex(stage) < 0 {
		unknownStage(w, stage, "a stage", eng.Model().Version, eng.Model().StageNames())
		return
	}
	limit, ok := parseLimit(w, q.Get("limit"))
	if !ok {
		return
	}
	ranks, err := a.top(r.Context(), state.BoardName(eng.Model().Name, stage), limit)
	if err != nil {
		a.storeError(w, r, "stage "+strconv.Quote(stage), err)
		return
	}
	now := a.cfg.Now().UnixMilli()
	out := TopLeads{Model: eng.Model().Name, Stage: stage, At: output.FormatTime(now), Leads: make([]RankedLead, len(ranks))}
	for i, rk := range ranks {
		out.Leads[i] = RankedLead{LeadID: rk.LeadID, Score: output.Round(eng.ScoreFromRank(rk.Rank, now))}
	}
	writeJSON(w, http.StatusOK, out)
}

// parseLimit reads a leaderboard's ?limit= (default DefaultLimit), or
// answers 400 and returns false.
func parseLimit(w http.ResponseWriter, s string) (int, bool) {
	if s == "" {
		return DefaultLimit, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		writeError(w, http.StatusBadRequest, CodeInvalidLimit, fmt.Sprintf("limit %q: want an integer from 1 to %d", s, MaxLimit))
		return 0, false
	}
	return n, true
}

// top reads a leaderboard, reusing a read younger than TopCacheTTL.
func (a *API) top(ctx context.Context, stage string, limit int) ([]state.Ranked, error) {
	k := topKey{stage, limit}
	a.topMu.Lock()
	e, ok := a.tops[k]
	a.topMu.Unlock()
	if ok && time.Since(e.at) < a.cfg.TopCacheTTL {
		return e.ranks, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	ranks, err := a.cfg.Store.Top(ctx, stage, limit)
	if err != nil {
		return nil, err
	}
	a.topMu.Lock()
	if len(a.tops) >= 256 {
		clear(a.tops)
	}
	a.tops[k] = topEntry{at: time.Now(), ranks: ranks}
	a.topMu.Unlock()
	return ranks, nil
}

// Readiness is the body of GET /readyz.
type Readiness struct {
	Ready bool `json:"ready"`
	// Checks maps each dependency to "ok" or what is wrong with it.
	Checks map[string]string `json:"checks"`
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	out := a.Ready(r.Context())
	status := http.StatusOK
	if !out.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, out)
}

// batchLoader is implemented by *state.Store: many leads in one round trip.
type batchLoader interface {
	Load(ctx context.Context, leadIDs []string) (map[string]state.Record, error)
}

// Leaderboard returns the top leads of a model's stage (model "": the first;
// as GET /v1/leads ranks them, from the same cached read) with each lead's
// full view, best first. The records are read in one round trip when the
// store can (state.Store.Load); a lead erased or merged since the ranking
// was read is left out.
func (a *API) Leaderboard(ctx context.Context, model, stage string, limit int) ([]Lead, error) {
	set, sel, err := a.model(model)
	if err != nil {
		return nil, err
	}
	eng := set.Engines()[sel]
	if eng.Model().StageIndex(stage) < 0 {
		return nil, fmt.Errorf("stage %q is not a stage of model %s", stage, eng.Model().Version)
	}
	if limit < 1 || limit > MaxLimit {
		return nil, fmt.Errorf("limit %d: want 1 to %d", limit, MaxLimit)
	}
	ranks, err := a.top(ctx, state.BoardName(eng.Model().Name, stage), limit)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	ids := make([]string, len(ranks))
	for i, rk := range ranks {
		ids[i] = rk.LeadID
	}
	recs := make(map[string]state.Record, len(ids))
	if l, ok := a.cfg.Store.(batchLoader); ok && len(ids) > 0 {
		if recs, err = l.Load(ctx, ids); err != nil {
			return nil, err
		}
	} else {
		for _, id := range ids {
			rec, err := a.cfg.Store.Get(ctx, id)
			if errors.Is(err, state.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			recs[id] = rec
		}
	}
	top := uint64(0)
	for _, rec := range recs {
		top = max(top, scoring.MaxNameID(rec.Data))
	}
	names, err := a.cfg.Store.NamesUpTo(ctx, top)
	if err != nil {
		return nil, err
	}
	now := a.cfg.Now().UnixMilli()
	out := make([]Lead, 0, len(ids))
	for _, id := range ids {
		rec, ok := recs[id]
		if !ok || rec.Version == 0 || rec.MergedInto != "" || len(rec.Data) == 0 {
			continue
		}
		l, err := set.DecodeNames(rec.Data, names)
		if err != nil {
			a.cfg.Logger.Error("api: corrupt lead state", "lead", rec.LeadID, "err", err)
			continue
		}
		out = append(out, newLead(set, sel, rec, &l, now))
	}
	return out, nil
}

// unknownStage answers 400 unknown_stage for a stage that is not what (a
// stage, an account stage) of the model, listing the model's names.
func unknownStage(w http.ResponseWriter, stage, what, version string, names []string) {
	writeError(w, http.StatusBadRequest, CodeUnknownStage,
		fmt.Sprintf("stage %q is not %s of model %s (one of: %s)", stage, what, version, strings.Join(names, ", ")))
}
