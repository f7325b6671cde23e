package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// abmFixture is a store holding the people of three companies under the
// example ABM rules (examples/rules/b2b-abm.yaml), leads and accounts
// written as the processor writes them:
//
//   - acme/emea (a groupId with a slash): user:vp (VP Marketing, pricing,
//     demo request, webinar: decision_maker, engaged), user:dev (Marketing
//     Manager, webinar — which makes the MQA — and white paper: champion,
//     engaged) and user:cfo (CFO, newsletter: finance, not engaged);
//   - globex: user:g1 (demo request, webinar) — engaged;
//   - initech: user:i1 (pricing, demo request) — engaged, below globex.
type abmFixture struct {
	*fixture
	r   *replay.Runner
	abm *scoring.Engine
	idx int // the ABM model's index in the set
}

// newABMFixture scores testrules.ABMStory under set and writes the leads and the
// accounts of every model with accounts, as the processor does: an account
// record under state.AccountRecordID on its stage's state.AccountBoard,
// with its next change as deadline and its outbox produced (Pending 0).
func newABMFixture(t *testing.T, set *scoring.Set) *abmFixture {
	t.Helper()
	return newABMFixtureOf(t, set, testrules.ABMStory(t0))
}

// newABMFixtureOf is newABMFixture on other event lines.
func newABMFixtureOf(t *testing.T, set *scoring.Set, lines []string) *abmFixture {
	t.Helper()
	ctx := context.Background()
	f := newFixtureOf(t, set)
	f.mr.FlushAll() // the lead fixture's leads are not wanted here
	st, err := state.New(ctx, state.Options{Addrs: []string{f.mr.Addr()}, TimerShards: 4, Buckets: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.store = st
	af := &abmFixture{fixture: f, r: replayLines(t, set, lines), idx: -1}
	ups := leadUpdates(t, set, af.r, st)
	for i, eng := range set.Engines() {
		if eng.Model().Accounts == nil {
			continue
		}
		if af.idx < 0 {
			af.idx, af.abm = i, eng
		}
		name := eng.Model().Name
		for _, id := range af.r.AccountIDs(i) {
			a := *af.r.Account(i, id)
			a.Pending = 0 // produced and acknowledged
			data, err := a.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			up := state.Update{Base: state.Record{LeadID: state.AccountRecordID(name, id)}, Data: data,
				Stage: state.AccountBoard(name, a.Stage), Rank: eng.AccountRank(&a)}
			if next, ok := eng.NextAccountChange(&a); ok {
				up.Deadline = next
			}
			ups = append(ups, up)
		}
	}
	if af.abm == nil {
		t.Fatal("no model of the set scores accounts")
	}
	mustWrite(t, st, ups)
	return af
}

// abmSet is a lead-only model ("web") followed by the example ABM rules
// ("abm"): account requests without ?model= must find the second.
func abmSet(t *testing.T) *scoring.Set {
	t.Helper()
	web := testrules.Parse(t, "web.yaml", []byte(webModel))
	abm := testrules.Load(t, "../examples/rules/b2b-abm.yaml")
	abm.Model().Name = "abm"
	set, err := scoring.NewSet(web, abm)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// storedAccount reads and decodes an account record, with its version.
func (f *abmFixture) storedAccount(t *testing.T, id string) (scoring.Account, state.Record) {
	t.Helper()
	rec, err := f.store.Get(context.Background(), state.AccountRecordID(f.abm.Model().Name, id))
	if err != nil {
		t.Fatal(err)
	}
	var a scoring.Account
	if err := a.UnmarshalBinary(rec.Data); err != nil {
		t.Fatal(err)
	}
	return a, rec
}

func members(body map[string]any) []string {
	var out []string
	for _, m := range body["members"].([]any) {
		out = append(out, m.(map[string]any)["lead_id"].(string))
	}
	return out
}

// TestGetAccount: the account view presents the facts of the oracle's final
// account line at the same instant, with roles and transitions besides.
func TestGetAccount(t *testing.T) {
	f := newABMFixture(t, abmSet(t))
	h := f.handler(t, api.Config{})
	now := f.now.UnixMilli()
	oracle := f.r.Account(f.idx, "acme/emea")
	line := replay.NewAccountLine(f.abm, "acme/emea", oracle, now)
	b, _ := json.Marshal(line)
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}

	for _, target := range []string{"/v1/accounts/acme%2Femea", "/v1/accounts/acme/emea", "/v1/accounts/acme%2Femea?model=abm"} {
		t.Run(target, func(t *testing.T) {
			body := call(t, h, "GET", target, "", 200)
			for _, k := range []string{"account_id", "model", "stage", "stage_since", "engagement", "engaged_members", "roles", "fit", "at", "model_version"} {
				if fmt.Sprint(body[k]) != fmt.Sprint(want[k]) {
					t.Errorf("%s: %v, the oracle's %v", k, body[k], want[k])
				}
			}
			// Members: the oracle's (lead, score) pairs, in its order, each with its role.
			var got []string
			for _, m := range body["members"].([]any) {
				m := m.(map[string]any)
				got = append(got, fmt.Sprintf("%v %v", m["lead_id"], m["score"]))
			}
			var oracleMembers []string
			for _, m := range line.Members {
				oracleMembers = append(oracleMembers, fmt.Sprintf("%v %v", m.LeadID, m.Score))
			}
			if !slices.Equal(got, oracleMembers) {
				t.Errorf("members %v, the oracle's %v", got, oracleMembers)
			}
			roles := map[string]any{}
			for _, m := range body["members"].([]any) {
				m := m.(map[string]any)
				roles[m["lead_id"].(string)] = m["role"]
			}
			if roles["user:vp"] != "decision_maker" || roles["user:dev"] != "champion" || roles["user:cfo"] != "finance" {
				t.Errorf("roles %v", roles)
			}
			if body["stage"] != "mqa" || body["engaged_members"] != 2.0 {
				t.Errorf("stage %v, engaged members %v: want mqa with 2", body["stage"], body["engaged_members"])
			}
			// Transitions: newest first, with the account topic's ids.
			trs := body["recent_transitions"].([]any)
			if len(trs) != len(oracle.Recent) || len(trs) < 2 {
				t.Fatalf("%d transitions, the oracle's account has %d", len(trs), len(oracle.Recent))
			}
			for i, tr := range trs {
				o := &oracle.Recent[len(oracle.Recent)-1-i]
				if id := tr.(map[string]any)["id"]; id != output.AccountTransitionID("abm", "acme/emea", o) {
					t.Errorf("transition %d: id %v, the topic's %s", i, id, output.AccountTransitionID("abm", "acme/emea", o))
				}
			}
			if newest := trs[0].(map[string]any); newest["to"] != "mqa" || newest["direction"] != "up" || newest["trigger_event_id"] != "dev-w" {
				t.Errorf("newest transition %v", newest)
			}
			if body["next_change_at"] == nil {
				t.Errorf("an MQA with an exit has no next change")
			}
		})
	}
}

// TestAccountErrors: unknown accounts, models and stages, models without
// accounts, and account records asked for as leads.
func TestAccountErrors(t *testing.T) {
	f := newABMFixture(t, abmSet(t))
	h := f.handler(t, api.Config{})
	leadOnly := newFixture(t).handler(t, api.Config{})
	for _, c := range []struct {
		h      string
		target string
		status int
		code   string
	}{
		{"abm", "/v1/accounts/nope", 404, "not_found"},
		{"abm", "/v1/accounts/acme", 404, "not_found"},
		{"abm", "/v1/accounts/", 404, "not_found"},
		{"abm", "/v1/accounts/" + strings.Repeat("x", 60), 404, "not_found"}, // longer than a record id can be
		{"abm", "/v1/leads/account:abm/globex", 404, "not_found"},
		{"abm", "/v1/accounts/globex?model=nope", 400, "unknown_model"},
		{"abm", "/v1/accounts/globex?model=web", 400, "no_accounts"},
		{"abm", "/v1/accounts", 400, "unknown_stage"},
		{"abm", "/v1/accounts?stage=sql", 400, "unknown_stage"}, // a lead stage
		{"abm", "/v1/accounts?stage=engaged&model=nope", 400, "unknown_model"},
		{"abm", "/v1/accounts?stage=engaged&model=web", 400, "no_accounts"},
		{"abm", "/v1/accounts?stage=engaged&limit=0", 400, "invalid_limit"},
		{"abm", "/v1/accounts?stage=engaged&limit=x", 400, "invalid_limit"},
		{"lead-only", "/v1/accounts/globex", 400, "no_accounts"},
		{"lead-only", "/v1/accounts?stage=target", 400, "no_accounts"},
	} {
		hh := h
		if c.h == "lead-only" {
			hh = leadOnly
		}
		if body := call(t, hh, "GET", c.target, "", c.status); errCode(body) != c.code {
			t.Errorf("%s GET %s: %v, want %s", c.h, c.target, body, c.code)
		}
	}
	body := call(t, h, "GET", "/v1/accounts?stage=nope", "", 400)
	if msg := body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "target, engaged, mqa") {
		t.Errorf("unknown_stage does not list the account stages: %q", msg)
	}
	for _, target := range []string{"/v1/accounts", "/v1/accounts/globex"} {
		if body := call(t, h, "DELETE", target, "", 405); errCode(body) != "method_not_allowed" {
			t.Errorf("DELETE %s: %v", target, body)
		}
	}
	// An account record is not a lead: it cannot be erased as one.
	call(t, h, "DELETE", "/v1/leads/account:abm/globex", "", 404)
	call(t, h, "GET", "/v1/accounts/globex", "", 200)
}

// topAccounts lists a leaderboard's account ids and engagements.
func topAccounts(t *testing.T, body map[string]any) ([]string, []float64) {
	t.Helper()
	var ids []string
	var engs []float64
	for _, a := range body["accounts"].([]any) {
		a := a.(map[string]any)
		ids = append(ids, a["account_id"].(string))
		engs = append(engs, a["engagement"].(float64))
	}
	return ids, engs
}

// TestTopAccounts: the leaderboard of an account stage, best engagement
// first, engagements decayed to now as GET /v1/accounts/{id} gives them
// (to the rank's precision), for a named model and a process's one unnamed
// model.
func TestTopAccounts(t *testing.T) {
	for _, named := range []bool{true, false} {
		t.Run(fmt.Sprintf("named=%v", named), func(t *testing.T) {
			set := abmSet(t)
			if !named {
				set = scoring.SingleSet(testrules.Load(t, "../examples/rules/b2b-abm.yaml"))
			}
			f := newABMFixture(t, set)
			h := f.handler(t, api.Config{})
			for _, c := range []struct {
				query string
				want  []string
			}{
				{"stage=engaged", []string{"globex", "initech"}},
				{"stage=engaged&limit=1", []string{"globex"}},
				{"stage=mqa", []string{"acme/emea"}},
				{"stage=target", nil},
			} {
				body := call(t, h, "GET", "/v1/accounts?"+c.query, "", 200)
				ids, engs := topAccounts(t, body)
				if !slices.Equal(ids, c.want) || body["stage"] != strings.TrimPrefix(strings.Split(c.query, "&")[0], "stage=") {
					t.Errorf("GET /v1/accounts?%s: %v, want %v", c.query, body, c.want)
				}
				if _, has := body["model"]; has != named {
					t.Errorf("GET /v1/accounts?%s: model %v", c.query, body["model"])
				}
				for i, id := range ids {
					acct := call(t, h, "GET", "/v1/accounts/"+strings.ReplaceAll(id, "/", "%2F"), "", 200)
					// Ranks are stored to 1e-4 (state's rank scale): about
					// 7e-5 of the engagement.
					if e := acct["engagement"].(float64); math.Abs(e-engs[i]) > 1e-4*e {
						t.Errorf("%s: leaderboard engagement %v, account's %v", id, engs[i], acct["engagement"])
					}
				}
			}
			// The in-process leaderboard (the web console's) is the same
			// answer.
			a := h.(*api.API)
			top, err := a.AccountLeaderboard(context.Background(), "", "engaged", 25)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(top)
			var gotMap map[string]any
			_ = json.Unmarshal(b, &gotMap)
			got, _ := json.Marshal(gotMap) // a map's keys sort as call's do
			want := call(t, h, "GET", "/v1/accounts?stage=engaged", "", 200)
			if wantJSON, _ := json.Marshal(want); string(got) != string(wantJSON) {
				t.Errorf("AccountLeaderboard\n%s\nGET /v1/accounts\n%s", got, wantJSON)
			}
			for _, bad := range []struct {
				stage string
				limit int
			}{{"nope", 25}, {"sql", 25}, {"engaged", 0}, {"engaged", api.MaxLimit + 1}} {
				if _, err := a.AccountLeaderboard(context.Background(), "", bad.stage, bad.limit); err == nil {
					t.Errorf("AccountLeaderboard(%q, %d): no error", bad.stage, bad.limit)
				}
			}
		})
	}
}

// TestEraseReachesPastAccounts: a person who moved to another company is
// a member who left, under their lead id, of the account they left; and a
// visitor stitched into them, of the visitor's. Erasing the person cleans
// every one of those accounts, not only the current one.
func TestEraseReachesPastAccounts(t *testing.T) {
	at := func(min int) string { return t0.Add(time.Duration(min) * time.Minute).Format(time.RFC3339) }
	lines := append(testrules.ABMStory(t0),
		fmt.Sprintf(`{"type":"track","event":"Demo Requested","userId":"mover","messageId":"m1","timestamp":%q,"context":{"groupId":"globex"}}`, at(50)),
		fmt.Sprintf(`{"type":"group","groupId":"initech","userId":"mover","messageId":"m2","timestamp":%q}`, at(51)),
		fmt.Sprintf(`{"type":"track","event":"Demo Requested","anonymousId":"a-visitor","messageId":"v1","timestamp":%q,"context":{"groupId":"umbrella"}}`, at(52)),
		fmt.Sprintf(`{"type":"identify","anonymousId":"a-visitor","userId":"mover","messageId":"v2","timestamp":%q}`, at(53)),
	)
	f := newABMFixtureOf(t, abmSet(t), lines)
	h := f.handler(t, api.Config{})
	for _, acct := range []string{"globex", "initech", "umbrella"} {
		if a, _ := f.storedAccount(t, acct); !a.Mentions("user:mover") && !a.Mentions("anon:a-visitor") {
			t.Fatalf("%s does not mention the mover before the erasure: the fixture is wrong: %+v", acct, a.Members)
		}
	}
	call(t, h, "DELETE", "/v1/leads/user:mover", "", 200)
	for _, acct := range []string{"globex", "initech", "umbrella"} {
		a, rec := f.storedAccount(t, acct)
		for _, id := range []string{"user:mover", "anon:a-visitor"} {
			if a.Mentions(id) || strings.Contains(string(rec.Data), id) {
				t.Errorf("after the erasure, %s still holds %s: %+v", acct, id, a.Members)
			}
		}
		view, _ := json.Marshal(call(t, h, "GET", "/v1/accounts/"+acct, "", 200))
		if strings.Contains(string(view), "mover") || strings.Contains(string(view), "a-visitor") {
			t.Errorf("after the erasure, GET /v1/accounts/%s names the person: %s", acct, view)
		}
	}
}

// TestEraseLeavesAccounts: erasing a member removes them from their
// account — gone from its members, its engagement without them, its
// leaderboard place updated, their lead id nowhere in the account's view or
// record — and the stage change this causes waits in the account's outbox,
// its timer due now for the processor's sweep.
func TestEraseLeavesAccounts(t *testing.T) {
	f := newABMFixture(t, abmSet(t))
	h := f.handler(t, api.Config{TopCacheTTL: time.Hour})
	before := call(t, h, "GET", "/v1/accounts/acme%2Femea", "", 200)
	call(t, h, "GET", "/v1/accounts?stage=engaged", "", 200) // cached: erasure must clear it
	_, recBefore := f.storedAccount(t, "acme/emea")

	for _, c := range []struct {
		lead       string
		gone       string
		stage      string
		pending    int
		engagedTop []string
	}{
		// The champion's white paper made the MQA; without the VP, the
		// engagement falls below the MQA's exit (30): down to engaged.
		{"user:vp", "user:vp", "engaged", 1, []string{"globex", "initech", "acme/emea"}},
		// The CFO was not engaged: the account stays where it is.
		{"user:cfo", "user:cfo", "engaged", 1, []string{"globex", "initech", "acme/emea"}},
	} {
		if body := call(t, h, "DELETE", "/v1/leads/"+c.lead, "", 200); body["lead_id"] != c.lead {
			t.Fatalf("DELETE %s: %v", c.lead, body)
		}
		call(t, h, "DELETE", "/v1/leads/"+c.lead, "", 404)
		body := call(t, h, "GET", "/v1/accounts/acme%2Femea", "", 200)
		if slices.Contains(members(body), c.gone) {
			t.Errorf("after erasing %s: members %v", c.lead, members(body))
		}
		sum := 0.0
		for _, m := range body["members"].([]any) {
			sum += m.(map[string]any)["score"].(float64)
		}
		if eng := body["engagement"].(float64); eng >= before["engagement"].(float64) || math.Abs(eng-sum) > 1e-5 {
			t.Errorf("after erasing %s: engagement %v (before %v), members' sum %v", c.lead, eng, before["engagement"], sum)
		}
		if body["stage"] != c.stage {
			t.Errorf("after erasing %s: stage %v, want %s", c.lead, body["stage"], c.stage)
		}
		view, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		a, rec := f.storedAccount(t, "acme/emea")
		for what, data := range map[string][]byte{"GET /v1/accounts/acme%2Femea": view, "the account record": rec.Data} {
			if strings.Contains(string(data), c.lead) {
				t.Errorf("after erasing %s: %s still holds the lead id: %s", c.lead, what, data)
			}
		}
		if i := slices.IndexFunc(a.Members, func(m scoring.Member) bool { return m.Lead == scoring.ErasedMemberID(c.lead) }); i < 0 || !a.Members[i].Left {
			t.Errorf("after erasing %s: no left member %s to refuse their older updates: %+v", c.lead, scoring.ErasedMemberID(c.lead), a.Members)
		}
		if a.Pending != c.pending || rec.Version == recBefore.Version {
			t.Errorf("after erasing %s: %d stage changes pending, want %d (version %d, before %d)", c.lead, a.Pending, c.pending, rec.Version, recBefore.Version)
		}
		ids, _ := topAccounts(t, call(t, h, "GET", "/v1/accounts?stage=engaged", "", 200))
		if !slices.Equal(ids, c.engagedTop) {
			t.Errorf("after erasing %s: engaged leaderboard %v, want %v", c.lead, ids, c.engagedTop)
		}
		if ids, _ := topAccounts(t, call(t, h, "GET", "/v1/accounts?stage=mqa", "", 200)); len(ids) != 0 {
			t.Errorf("after erasing %s: the MQA leaderboard still lists %v", c.lead, ids)
		}
		before = body
	}
	body := call(t, h, "GET", "/v1/accounts/acme%2Femea", "", 200)
	if got := members(body); !slices.Equal(got, []string{"user:dev"}) {
		t.Errorf("members left: %v", got)
	}
	newest := body["recent_transitions"].([]any)[0].(map[string]any)
	if newest["from"] != "mqa" || newest["to"] != "engaged" || newest["direction"] != "down" || newest["trigger_event_id"] != scoring.ErasureEventID("user:vp") {
		t.Errorf("the erasure's stage change: %v", newest)
	}
	// Its members were the account's after the VP left; the CFO, erased
	// since, is there under their pseudonym, with the score that still sums
	// to the engagement.
	var made []string
	for _, m := range newest["members"].([]any) {
		made = append(made, m.(map[string]any)["lead_id"].(string))
	}
	if want := []string{"user:dev", scoring.ErasedMemberID("user:cfo")}; !slices.Equal(made, want) {
		t.Errorf("the erasure's stage change: members %v, want %v", made, want)
	}
	// The VP's webinar delivered again (the processor reading Kafka again
	// after a crash) is refused as the pseudonym's older update.
	a, _ := f.storedAccount(t, "acme/emea")
	again := scoring.MemberUpdate{Account: "acme/emea", Lead: "user:vp", At: t0.Add(3 * time.Minute).UnixMilli(), EventID: "vp-w", Score: 30}
	if trs := f.abm.ApplyMember(&a, &again); len(trs) != 0 || a.MemberCount() != 1 || a.Mentions("user:vp") {
		t.Errorf("an erased member's update delivered again: %+v, members %+v", trs, a.Members)
	}
	// The account's timer is due now, so the processor's next sweep
	// produces the pending change.
	timers, err := f.store.ClaimDueShards(context.Background(), []int{0, 1, 2, 3}, f.now.UnixMilli(), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	var due []string
	for _, tm := range timers {
		due = append(due, tm.LeadID)
	}
	if !slices.Contains(due, state.AccountRecordID("abm", "acme/emea")) {
		t.Errorf("timers due now: %v, want the account's", due)
	}
	// The other accounts are untouched.
	if a, _ := f.storedAccount(t, "globex"); a.MemberCount() != 1 || a.Pending != 0 {
		t.Errorf("globex: %+v", a)
	}
}

// racingStore writes every account record again (as the processor would,
// between the API's read and its write) before the first `races` writes it
// forwards, so that they lose their compare-and-set.
type racingStore struct {
	api.Store
	real  *state.Store
	races int
}

func (s *racingStore) Write(ctx context.Context, ups []state.Update) ([]state.Result, error) {
	if s.races > 0 {
		s.races--
		for _, u := range ups {
			cur, err := s.real.Get(ctx, u.Base.LeadID)
			if err != nil {
				return nil, err
			}
			if _, err := s.real.Write(ctx, []state.Update{{Base: cur, Data: cur.Data, Stage: cur.Stage}}); err != nil {
				return nil, err
			}
		}
	}
	return s.Store.Write(ctx, ups)
}

// TestEraseAccountConflicts: an account the processor writes meanwhile is
// reloaded and the leaving applied again; one that keeps changing makes
// the erasure fail as unavailable, with nothing erased, so that it can be
// retried.
func TestEraseAccountConflicts(t *testing.T) {
	for _, c := range []struct {
		name   string
		races  int
		status int
	}{
		{"no race", 0, 200},
		{"one lost race", 1, 200},
		{"always racing", 1000, 503},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newABMFixture(t, abmSet(t))
			h := f.handler(t, api.Config{Store: &racingStore{Store: f.store, real: f.store, races: c.races}})
			call(t, h, "DELETE", "/v1/leads/user:dev", "", c.status)
			body := call(t, h, "GET", "/v1/accounts/acme%2Femea", "", 200)
			if gone := !slices.Contains(members(body), "user:dev"); gone != (c.status == 200) {
				t.Errorf("member removed: %v, want %v (members %v)", gone, c.status == 200, members(body))
			}
			if c.status != 200 {
				call(t, h, "GET", "/v1/leads/user:dev", "", 200) // not erased: the client retries
			}
		})
	}
}
