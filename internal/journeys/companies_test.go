package journeys

import (
	"math"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/scoring"
)

// TestCompanies replays histories through the decoder and checks the buying
// groups as account scoring will see them: the group call's groupId and
// traits in Event.Account and AccountTraits, context.groupId on a member's
// later calls, one domain per company, group sizes within the knob, and the
// free-mail share.
func TestCompanies(t *testing.T) {
	free, err := scoring.NewFreeMail(FreeMailDomains()...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cfg      Config
		max      int     // largest buying group; 1: companies off
		freeMail float64 // share of company people at a free-mail domain
	}{
		{"defaults", Config{Seed: 5, Leads: 2000}, DefaultPeoplePerCompany, DefaultFreeMailShare},
		{"pairs, no free mail", Config{Seed: 6, Leads: 1500, PeoplePerCompany: 2, FreeMailShare: -1}, 2, 0},
		{"big groups, much free mail", Config{Seed: 7, Leads: 1500, PeoplePerCompany: 12, FreeMailShare: 0.4}, 12, 0.4},
		{"off", Config{Seed: 5, Leads: 600, PeoplePerCompany: 1}, 1, 0},
		{"off, negative", Config{Seed: 5, Leads: 600, PeoplePerCompany: -3}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec, err := events.NewDecoder(events.Options{})
			if err != nil {
				t.Fatal(err)
			}
			tt.cfg.KeepTruth = true
			g, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			accountOf := map[string]string{}        // userId → groupId of their group call
			members := map[string]map[string]bool{} // groupId → userIds
			website := map[string]string{}          // groupId → website trait
			domains := map[string]map[string]bool{} // groupId → company e-mail domains of members
			groups, attributed := 0, 0
			for {
				rec, ok := g.Next()
				if !ok {
					break
				}
				if rec.Topic != TopicWeb {
					continue
				}
				ev, err := dec.Decode(scoring.SourceWeb, rec.Value)
				if err != nil {
					t.Fatalf("%v: %s", err, rec.Value)
				}
				user := ev.Identity.UserID
				if ev.Kind == "group" {
					groups++
					if ev.Account == "" || user == "" || len(ev.Traits) != 0 {
						t.Fatalf("group call: account %q, user %q, person traits %v: %s", ev.Account, user, ev.Traits, rec.Value)
					}
					for _, k := range []string{"name", "industry", "employees", "plan", "website", "annual_revenue", "address.country"} {
						if _, ok := ev.AccountTraits.Get(k); !ok {
							t.Fatalf("group call without trait %s: %s", k, rec.Value)
						}
					}
					if prev, ok := accountOf[user]; ok && !rec.Resend {
						t.Fatalf("user %s sent a second group call (%s after %s)", user, ev.Account, prev)
					}
					accountOf[user] = ev.Account
					if members[ev.Account] == nil {
						members[ev.Account] = map[string]bool{}
					}
					members[ev.Account][user] = true
					w, _ := ev.AccountTraits.Get("website")
					if old, ok := website[ev.Account]; ok && old != w.Str {
						t.Fatalf("account %s has websites %s and %s", ev.Account, old, w.Str)
					}
					website[ev.Account] = w.Str
					continue
				}
				if want := accountOf[user]; ev.Account != want && !rec.Resend {
					t.Fatalf("%s of user %q: Account %q, want %q (its group call's): %s", ev.Kind, user, ev.Account, want, rec.Value)
				}
				if ev.Account != "" {
					attributed++
				}
				if ev.Account != "" && ev.Identity.Email != "" {
					if _, ok := scoring.AccountFromEmail(ev.Identity.Email, free); ok {
						if domains[ev.Account] == nil {
							domains[ev.Account] = map[string]bool{}
						}
						domains[ev.Account][ev.Identity.Email[strings.IndexByte(ev.Identity.Email, '@')+1:]] = true
					}
				}
			}

			if tt.max == 1 {
				if groups != 0 || attributed != 0 || g.Stats().Companies != 0 {
					t.Fatalf("companies off: %d group calls, %d attributed calls, %d companies", groups, attributed, g.Stats().Companies)
				}
				for _, tr := range g.DrainTruth(nil) {
					if tr.Account != "" || tr.Role != "" {
						t.Fatalf("companies off, truth %+v", tr)
					}
				}
				return
			}
			if groups == 0 || attributed == 0 {
				t.Fatalf("%d group calls, %d calls with context.groupId", groups, attributed)
			}
			biggest := 0
			for acct, m := range members {
				biggest = max(biggest, len(m))
				if len(m) > tt.max {
					t.Errorf("account %s has %d identified members, more than %d", acct, len(m), tt.max)
				}
				if len(domains[acct]) > 1 {
					t.Errorf("account %s: people at several company domains %v", acct, domains[acct])
				}
				for d := range domains[acct] {
					if website[acct] != "https://www."+d {
						t.Errorf("account %s: website %s, people at %s", acct, website[acct], d)
					}
				}
			}
			if biggest < 2 {
				t.Errorf("no account with two identified members or more")
			}

			var inCompany, atFreeMail int
			champions := map[string]int{}
			for _, tr := range g.DrainTruth(nil) {
				if (tr.Account == "") != (tr.Role == "") {
					t.Fatalf("truth with account %q and role %q", tr.Account, tr.Role)
				}
				if tr.UserID != "" && accountOf[tr.UserID] != "" && accountOf[tr.UserID] != tr.Account {
					t.Fatalf("truth says %s is in %s, the group call said %s", tr.UserID, tr.Account, accountOf[tr.UserID])
				}
				if tr.Persona == Bot || tr.Persona == Anonymous {
					if tr.Account != "" {
						t.Fatalf("a %s in account %s", tr.Persona, tr.Account)
					}
					continue
				}
				if tr.Role == RoleChampion {
					champions[tr.Account]++
				}
				if tr.Account == "" || tr.Email == "" {
					continue
				}
				inCompany++
				if _, ok := scoring.AccountFromEmail(tr.Email, free); !ok {
					atFreeMail++
				}
			}
			for acct, n := range champions {
				if n > 1 {
					t.Errorf("account %s has %d champions", acct, n)
				}
			}
			share := float64(atFreeMail) / float64(inCompany)
			// Three standard deviations of a binomial share, and a floor for tiny ones.
			tol := max(3*math.Sqrt(tt.freeMail*(1-tt.freeMail)/float64(inCompany)), 0.005)
			if math.Abs(share-tt.freeMail) > tol {
				t.Errorf("%d of %d company people at free mail (%.3f), want %.2f ± %.3f", atFreeMail, inCompany, share, tt.freeMail, tol)
			}
			t.Logf("%d companies, %d with an identified member, biggest %d; %d group calls, %d attributed calls; free mail %.3f of %d",
				g.Stats().Companies, len(members), biggest, groups, attributed, share, inCompany)
		})
	}
}

// Companies off is the generator as it was before companies: whatever the
// other company knob says, the same records.
func TestCompaniesOffIgnoresFreeMailShare(t *testing.T) {
	a, n := digest(t, Config{Seed: 8, Leads: 150, PeoplePerCompany: 1})
	b, m := digest(t, Config{Seed: 8, Leads: 150, PeoplePerCompany: -1, FreeMailShare: 0.9})
	if a != b || n != m {
		t.Fatalf("companies off: %s (%d) vs %s (%d)", a, n, b, m)
	}
	if c, _ := digest(t, Config{Seed: 8, Leads: 150}); c == a {
		t.Fatal("companies on and off gave the same stream")
	}
}
