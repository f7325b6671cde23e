package console

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// newABMRig is a console over a Redis store (miniredis) holding testrules.ABMStory's
// leads and accounts under the example ABM rules (the demo's default),
// written as the processor writes them: leads with their board, accounts
// under state.AccountRecordID on their stage's state.AccountBoard.
func newABMRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	eng := testrules.Load(t, "../examples/rules/b2b-abm.yaml")
	set := scoring.SingleSet(eng)
	mr := miniredis.RunT(t)
	store, err := state.New(ctx, state.Options{Addrs: []string{mr.Addr()}, TimerShards: 4, Buckets: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := replay.NewSet(set)
	for _, l := range testrules.ABMStory(time.UnixMilli(t0)) {
		ev, err := dec.DecodeAny([]byte(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		r.Apply(&ev)
	}
	var ups []state.Update
	for _, id := range r.LeadIDs() {
		l := r.States(id)
		data, err := l.AppendBinary(nil, set.Names())
		if err != nil {
			t.Fatal(err)
		}
		next, _ := set.NextChange(l)
		ups = append(ups, state.Update{Base: state.Record{LeadID: id}, Data: data, Deadline: next, Identities: []string{id},
			Stage: state.BoardName(eng.Model().Name, l.States[0].Stage), Rank: eng.Rank(&l.States[0])})
	}
	for _, id := range r.AccountIDs(0) {
		a := *r.Account(0, id)
		a.Pending = 0 // produced and acknowledged
		data, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		up := state.Update{Base: state.Record{LeadID: state.AccountRecordID(eng.Model().Name, id)}, Data: data,
			Stage: state.AccountBoard(eng.Model().Name, a.Stage), Rank: eng.AccountRank(&a)}
		if next, ok := eng.NextAccountChange(&a); ok {
			up.Deadline = next
		}
		ups = append(ups, up)
	}
	res, err := store.Write(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res {
		if x.Err != nil {
			t.Fatalf("writing %s: %v", x.LeadID, x.Err)
		}
	}
	now := time.UnixMilli(t0 + day)
	a, err := api.New(api.Config{Store: store, Models: func() *scoring.Set { return set }, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	feed := NewFeed()
	c, err := New(Config{API: a, Feed: feed})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{c: c, feed: feed, eng: eng, now: now}
}

// getJSON serves a GET and decodes its answer into v, checking the status.
func (r *rig) getJSON(t *testing.T, target string, want int, v any) {
	t.Helper()
	w := r.do(http.MethodGet, target, "", nil, "")
	if w.Code != want {
		t.Fatalf("GET %s: %d %s, want %d", target, w.Code, w.Body, want)
	}
	if v != nil {
		if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
	}
}

func TestAccountsPage(t *testing.T) {
	r := newABMRig(t)
	var s Session
	r.getJSON(t, "/console/api/session", http.StatusOK, &s)
	if !slices.Equal(s.AccountStages, accountStages(r.eng)) || len(s.AccountStages) < 2 {
		t.Errorf("session account stages %v, want the model's %v", s.AccountStages, accountStages(r.eng))
	}
	for _, tc := range []struct {
		query string
		stage string
		want  []string
	}{
		// No stage: the highest that holds accounts (acme/emea is an MQA,
		// above globex and initech's "engaged").
		{"", "mqa", []string{"acme/emea"}},
		{"?stage=engaged", "engaged", []string{"globex", "initech"}},
		{"?stage=engaged&limit=1", "engaged", []string{"globex"}},
		{"?stage=target", "target", nil},
	} {
		t.Run("stage="+tc.stage+tc.query, func(t *testing.T) {
			var got Accounts
			r.getJSON(t, "/console/api/accounts"+tc.query, http.StatusOK, &got)
			var ids []string
			for _, a := range got.Accounts {
				ids = append(ids, a.AccountID)
			}
			if got.Stage != tc.stage || !slices.Equal(ids, tc.want) {
				t.Fatalf("accounts%s: stage %q %v, want %q %v", tc.query, got.Stage, ids, tc.stage, tc.want)
			}
			// Each row is what GET /v1/accounts/{id} says of the account.
			for _, row := range got.Accounts {
				var want api.Account
				r.getJSON(t, "/v1/accounts/"+strings.ReplaceAll(row.AccountID, "/", "%2F"), http.StatusOK, &want)
				if row.Stage != tc.stage || row.Stage != want.Stage || row.Engagement != want.Engagement || row.EngagedMembers != want.EngagedMembers ||
					row.Members != len(want.Members) || !slices.Equal(row.Roles, want.Roles) || row.Fit != want.Fit ||
					(row.StageSince == nil) != (want.StageSince == nil) {
					t.Errorf("row %+v, account %+v", row, want)
				}
			}
		})
	}
	var acme Accounts
	r.getJSON(t, "/console/api/accounts?stage=mqa", http.StatusOK, &acme)
	if a := acme.Accounts[0]; a.EngagedMembers != 2 || a.Members != 3 || len(a.Roles) == 0 || a.StageSince == nil {
		t.Errorf("acme/emea: %+v, want 2 engaged of 3 members, roles, a stage since", a)
	}
	for _, q := range []string{"?stage=nope", "?stage=sql", "?limit=0", "?limit=101", "?limit=x"} {
		r.getJSON(t, "/console/api/accounts"+q, http.StatusBadRequest, nil)
	}
}

func TestAccountView(t *testing.T) {
	r := newABMRig(t)
	// The account is exactly what GET /v1/accounts/{id} answers; its id
	// holds a slash, in the query string as in the API's path (%2F).
	w := r.do(http.MethodGet, "/console/api/account?id="+"acme%2Femea", "", nil, "")
	w2 := r.do(http.MethodGet, "/v1/accounts/acme%2Femea", "", nil, "")
	if w.Code != http.StatusOK || w2.Code != http.StatusOK || w.Body.String() != w2.Body.String() {
		t.Errorf("console account %d\n%s\nAPI %d\n%s", w.Code, w.Body, w2.Code, w2.Body)
	}
	var a api.Account
	_ = json.Unmarshal(w.Body.Bytes(), &a)
	if a.AccountID != "acme/emea" || len(a.Members) != 3 || len(a.RecentTransitions) == 0 {
		t.Errorf("account %+v", a)
	}
	for _, tc := range []struct {
		target string
		want   int
	}{
		{"/console/api/account?id=nobody", http.StatusNotFound},
		{"/console/api/account", http.StatusBadRequest},
	} {
		r.getJSON(t, tc.target, tc.want, nil)
	}
	// A member's lead page names its account.
	for _, tc := range []struct{ lead, account string }{{"user:vp", "acme/emea"}, {"user:g1", "globex"}} {
		var v LeadView
		r.getJSON(t, "/console/api/lead?id="+tc.lead, http.StatusOK, &v)
		if v.Account != tc.account {
			t.Errorf("lead %s: account %q, want %q", tc.lead, v.Account, tc.account)
		}
	}
}

// TestNoAccounts: under a model without accounts, the account endpoints say
// so (the page shows it), the session lists no account stage (the nav entry
// is hidden) and a lead names no account.
func TestNoAccounts(t *testing.T) {
	r := newRig(t, "")
	var s Session
	r.getJSON(t, "/console/api/session", http.StatusOK, &s)
	if s.AccountStages == nil || len(s.AccountStages) != 0 {
		t.Errorf("account stages %#v, want []", s.AccountStages)
	}
	for _, p := range []string{"/console/api/accounts", "/console/api/accounts?stage=mqa", "/console/api/account?id=acme"} {
		var e api.Error
		r.getJSON(t, p, http.StatusNotFound, &e)
		if e.Error.Code != api.CodeNoAccounts {
			t.Errorf("GET %s: %+v, want %s", p, e, api.CodeNoAccounts)
		}
	}
	var v LeadView
	r.getJSON(t, "/console/api/lead?id=user:u1", http.StatusOK, &v)
	if v.Account != "" {
		t.Errorf("lead account %q under a model without accounts", v.Account)
	}
}

// TestAccountPagesInAssets: the nav has the Accounts entry, and the script
// routes both account pages and encodes account ids.
func TestAccountPagesInAssets(t *testing.T) {
	r := newRig(t, "")
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/console/", []string{`href="#/accounts"`, `data-page="accounts"`, `id="nav-accounts"`}},
		{"/console/assets/app.js", []string{`case "accounts":`, `case "account":`, `"/console/api/accounts?`, `"/console/api/account?id="`,
			`"#/account/" + encodeURIComponent(id)`, `"nav-accounts"`, `v.account`}},
	} {
		w := r.do(http.MethodGet, tc.path, "", nil, "")
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", tc.path, w.Code)
		}
		for _, s := range tc.want {
			if !strings.Contains(w.Body.String(), s) {
				t.Errorf("GET %s: no %s", tc.path, s)
			}
		}
	}
}
