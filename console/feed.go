package console

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/leadscore/leadscore/output"
)

// Feed is what the console learns from the output topics: every stage change
// (the funnel's counts and flows, the live handoffs), every account stage
// change (the live handoffs only) and the latest dead letters. A tail of the
// topics (TailKafka) or a test feeds it; it is safe for concurrent use.
//
// Memory is bounded by the leads and accounts that ever changed stage: about
// 100 bytes per lead for its current stage (so that a re-emitted duplicate
// and a stitched lead are counted once) and the id of each account's last
// change (so that a duplicate is shown once), plus a fixed amount per day of
// history and per dead-letter reason.
type Feed struct {
	mu sync.Mutex
	// leads maps every lead that changed stage to where it stands.
	leads map[string]*leadMark
	// counts is leads per stage now, by model version.
	counts map[string]map[string]int
	// days holds flows per day of event time (Unix day number).
	days   map[int64]*dayFlows
	recent []Live // the latest changes, oldest first, for a new subscriber
	subs   map[chan Live]struct{}

	// accounts maps every account that changed stage to the id of its last
	// change, so that a re-emitted duplicate is shown once. Account changes
	// are kept apart from the leads': the funnel counts leads only.
	accounts       map[string]string
	accountChanges int64

	deadCount  map[string]int64
	deadRecent map[string][]DeadLetter // per reason, newest last

	// The tail's state: whether it has read everything the topics held
	// (caughtUp), and its last error ("" once a fetch succeeds again).
	caughtUp bool
	tailErr  string

	changes int64 // stage changes applied (duplicates excluded)
	dupes   int64
	dropped int64 // changes a slow subscriber missed
}

type leadMark struct {
	stage, model, lastID string
	mqlAt                int64 // when it last entered the MQL stage from below, 0 if not in it
}

type flowKey struct{ model, from, to string }

type dayFlows struct {
	flows    map[flowKey]int
	toSQLms  []int64 // time from MQL to SQL of the day's SQLs (at most maxSamples)
	toSQLcnt int
}

// Bounds of the feed's memory.
const (
	recentChanges = 50  // sent to a new subscriber as backlog
	deadPerReason = 5   // latest examples kept per dead-letter reason
	maxDays       = 400 // days of flow history kept
	maxSamples    = 2000
	subBuffer     = 256
)

// Change is one stage change as the live feed sends it: the stage-change
// event and when it was produced (the Kafka record's timestamp, Unix ms).
type Change struct {
	output.StageChange
	ProducedMs int64 `json:"produced_ms"`
}

// AccountChange is one account stage change as the live feed sends it: the
// account stage-change event and when it was produced (Unix ms).
type AccountChange struct {
	output.AccountStageChange
	ProducedMs int64 `json:"produced_ms"`
}

// Live is one entry of the live feed: a lead's stage change or an account's
// (exactly one is set). The stream sends them as different event types, so
// that a page that knows only lead changes never mistakes an account's for
// one.
type Live struct {
	Lead    *Change
	Account *AccountChange
}

// DeadLetter is a dead letter as the console shows it: the payload decoded to
// text (the browser escapes it; nothing is interpreted).
type DeadLetter struct {
	Reason    string        `json:"reason"`
	Message   string        `json:"message"`
	Field     string        `json:"field,omitempty"`
	Source    output.Source `json:"source"`
	At        string        `json:"at"`
	Payload   string        `json:"payload"`
	Size      int           `json:"payload_size"`
	Truncated bool          `json:"payload_truncated,omitempty"`
}

// Stages names the funnel stages the MQL → SQL figures use, and the funnel
// order (the model's stages).
type Stages struct {
	Order    []string
	MQL, SQL string
}

// marketingQualified reports whether stage is MQL or a stage after it and
// before SQL (a high MQL).
func (s Stages) marketingQualified(stage string) bool {
	i, mql, sql := slices.Index(s.Order, stage), slices.Index(s.Order, s.MQL), slices.Index(s.Order, s.SQL)
	return mql >= 0 && i >= mql && (sql < 0 || i < sql)
}

// entersMQL reports whether a change from → to enters the marketing-qualified
// stages from below.
func (s Stages) entersMQL(from, to string) bool {
	return s.marketingQualified(to) && slices.Index(s.Order, from) < slices.Index(s.Order, s.MQL)
}

// mqlToSQL reports whether a change from → to is a marketing-qualified lead
// becoming sales-qualified.
func (s Stages) mqlToSQL(from, to string) bool {
	return to == s.SQL && s.marketingQualified(from)
}

// NewFeed returns an empty feed.
func NewFeed() *Feed {
	return &Feed{leads: map[string]*leadMark{}, counts: map[string]map[string]int{}, days: map[int64]*dayFlows{},
		subs: map[chan Live]struct{}{}, accounts: map[string]string{}, deadCount: map[string]int64{}, deadRecent: map[string][]DeadLetter{}}
}

// StageChange applies one stage change read from the stage-change topic,
// produced at producedMs (Unix ms). A re-emitted duplicate (the same id as
// the lead's last change) is counted once; a lead stitched into another
// (listed among its identities) stops being counted on its own. stages gives
// the funnel order for the MQL → SQL figures.
func (f *Feed) StageChange(sc output.StageChange, producedMs int64, stages Stages) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.leads[sc.LeadID]
	if m != nil && m.lastID == sc.ID {
		f.dupes++
		return
	}
	f.changes++
	if m == nil {
		m = &leadMark{}
		f.leads[sc.LeadID] = m
	} else {
		f.count(m.model, m.stage, -1)
	}
	for _, k := range identityKeys(sc.Identities) {
		if o, ok := f.leads[k]; ok && k != sc.LeadID {
			f.count(o.model, o.stage, -1)
			delete(f.leads, k)
		}
	}
	at, _ := time.Parse(time.RFC3339Nano, sc.EventTime)
	ms := at.UnixMilli()
	idx := func(s string) int { return slices.Index(stages.Order, s) }
	mql, sql := idx(stages.MQL), idx(stages.SQL)
	day := f.day(ms)
	day.flows[flowKey{sc.ModelVersion, sc.From, sc.To}]++
	switch {
	case stages.entersMQL(sc.From, sc.To):
		m.mqlAt = ms
	case sql >= 0 && sc.To == stages.SQL && m.mqlAt != 0:
		day.toSQLcnt++
		if len(day.toSQLms) < maxSamples {
			day.toSQLms = append(day.toSQLms, ms-m.mqlAt)
		}
		m.mqlAt = 0
	case mql >= 0 && idx(sc.To) < mql:
		m.mqlAt = 0
	}
	m.stage, m.model, m.lastID = sc.To, sc.ModelVersion, sc.ID
	f.count(m.model, m.stage, 1)

	f.publish(Live{Lead: &Change{StageChange: sc, ProducedMs: producedMs}})
}

// AccountStageChange applies one account stage change read from the account
// stage-change topic, produced at producedMs (Unix ms): it goes to the live
// feed only (the funnel is the leads'). A re-emitted duplicate (the same id
// as the account's last change) is dropped.
func (f *Feed) AccountStageChange(sc output.AccountStageChange, producedMs int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.accounts[sc.AccountID] == sc.ID {
		return
	}
	f.accounts[sc.AccountID] = sc.ID
	f.accountChanges++
	f.publish(Live{Account: &AccountChange{AccountStageChange: sc, ProducedMs: producedMs}})
}

// publish keeps l among the recent changes and sends it to the subscribers;
// f.mu is held.
func (f *Feed) publish(l Live) {
	f.recent = append(f.recent, l)
	if len(f.recent) > recentChanges {
		f.recent = slices.Delete(f.recent, 0, len(f.recent)-recentChanges)
	}
	for ch := range f.subs {
		select {
		case ch <- l:
		default:
			f.dropped++
		}
	}
}

func (f *Feed) count(model, stage string, d int) {
	if stage == "" {
		return
	}
	c := f.counts[model]
	if c == nil {
		c = map[string]int{}
		f.counts[model] = c
	}
	c[stage] += d
	if c[stage] == 0 {
		delete(c, stage)
	}
}

func (f *Feed) day(ms int64) *dayFlows {
	n := ms / 86_400_000
	d := f.days[n]
	if d == nil {
		d = &dayFlows{flows: map[flowKey]int{}}
		f.days[n] = d
		if len(f.days) > maxDays {
			oldest := n
			for k := range f.days {
				oldest = min(oldest, k)
			}
			delete(f.days, oldest)
		}
	}
	return d
}

func identityKeys(id output.Identities) []string {
	var keys []string
	if id.UserID != "" {
		keys = append(keys, "user:"+id.UserID)
	}
	for _, e := range id.Emails {
		keys = append(keys, "email:"+e)
	}
	for _, a := range id.AnonymousIDs {
		keys = append(keys, "anon:"+a)
	}
	return keys
}

// DeadLetterRecord applies one record of the dead-letter topic.
func (f *Feed) DeadLetterRecord(dl output.DeadLetter) {
	raw, err := base64.StdEncoding.DecodeString(dl.PayloadBase64)
	if err != nil {
		raw = []byte(dl.PayloadBase64)
	}
	d := DeadLetter{Reason: dl.Reason, Message: dl.Message, Field: dl.Field, Source: dl.Source, At: dl.At,
		Payload: string(raw), Size: dl.PayloadSize, Truncated: dl.PayloadTruncated}
	if len(d.Payload) > maxShownPayload {
		d.Payload, d.Truncated = d.Payload[:maxShownPayload], true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.deadCount[d.Reason]; !ok && len(f.deadCount) >= maxReasons {
		d.Reason = "other"
	}
	f.deadCount[d.Reason]++
	r := append(f.deadRecent[d.Reason], d)
	if len(r) > deadPerReason {
		r = slices.Delete(r, 0, len(r)-deadPerReason)
	}
	f.deadRecent[d.Reason] = r
}

// Bounds of what the dead-letter view keeps.
const (
	maxShownPayload = 4 << 10
	maxReasons      = 64
)

// Subscribe returns a channel of the lead and account stage changes applied
// from now on, preceded by the latest ones (backlog), and a function that
// ends the subscription. A subscriber that falls more than a few hundred
// changes behind misses changes (counted) rather than slowing the feed.
func (f *Feed) Subscribe() (backlog []Live, ch <-chan Live, cancel func()) {
	c := make(chan Live, subBuffer)
	f.mu.Lock()
	backlog = slices.Clone(f.recent)
	f.subs[c] = struct{}{}
	f.mu.Unlock()
	return backlog, c, func() {
		f.mu.Lock()
		delete(f.subs, c)
		f.mu.Unlock()
	}
}

// TailStatus records how reading the topics goes: caughtUp once a fetch
// found nothing more to read, err the last fetch error (nil: it succeeded).
func (f *Feed) TailStatus(caughtUp bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.caughtUp = f.caughtUp || caughtUp
	f.tailErr = ""
	if err != nil {
		f.tailErr = err.Error()
	}
}

// Status returns whether the tail has caught up and its last error.
func (f *Feed) Status() (caughtUp bool, err string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caughtUp, f.tailErr
}

// Funnel is the answer of the console's funnel view.
type Funnel struct {
	// At is the instant the period ends (the API's clock), From where it
	// starts.
	At   string `json:"at"`
	From string `json:"from"`
	// Models lists the model versions seen, newest counts first.
	Models []ModelFunnel `json:"models"`
	// Changes counts the lead stage changes read (duplicates excluded).
	Changes    int64 `json:"changes"`
	Duplicates int64 `json:"duplicates"`
	// AccountChanges counts the account stage changes read (duplicates
	// excluded); they are in none of the lead figures.
	AccountChanges int64 `json:"account_changes"`
	// CaughtUp is false while the console is still reading the topic's
	// history (the counts are then partial).
	CaughtUp bool `json:"caught_up"`
}

// ModelFunnel is the funnel of one model version.
type ModelFunnel struct {
	Model string `json:"model"`
	// Stages lists every stage of the funnel, in order, with the leads in it
	// now (leads that never changed stage are not counted: the first stage
	// is therefore not shown as a count).
	Stages []StageCount `json:"stages"`
	// Flows are the stage changes within the period, by from and to.
	Flows []Flow `json:"flows"`
	// EnteredMQL and MQLToSQL count, within the period, the leads that
	// entered the MQL stage from below and the leads that entered SQL from
	// MQL or a stage between; Rate is MQLToSQL / EnteredMQL (a flow rate over
	// the period, not a cohort's).
	EnteredMQL int      `json:"entered_mql"`
	MQLToSQL   int      `json:"mql_to_sql"`
	Rate       *float64 `json:"rate"`
	// TimeToSQL is the median time from entering MQL to entering SQL of the
	// period's SQLs (seconds of event time), nil when there were none.
	TimeToSQLSeconds *float64 `json:"time_to_sql_seconds"`
}

// StageCount is the number of leads in a stage now.
type StageCount struct {
	Stage string `json:"stage"`
	Leads int    `json:"leads"`
}

// Flow counts stage changes from one stage to another.
type Flow struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Count int    `json:"count"`
}

// Funnel returns the funnel at now for the period (now-period, now] of event
// time (whole days: a flow is counted by the day it happened).
func (f *Feed) Funnel(now time.Time, period time.Duration, stages Stages) Funnel {
	f.mu.Lock()
	defer f.mu.Unlock()
	from := now.Add(-period)
	out := Funnel{At: output.FormatTime(now.UnixMilli()), From: output.FormatTime(from.UnixMilli()),
		Changes: f.changes, Duplicates: f.dupes, AccountChanges: f.accountChanges, CaughtUp: f.caughtUp}
	firstDay, lastDay := from.UnixMilli()/86_400_000, now.UnixMilli()/86_400_000
	models := map[string]*ModelFunnel{}
	samples := map[string][]int64{}
	get := func(m string) *ModelFunnel {
		mf := models[m]
		if mf == nil {
			mf = &ModelFunnel{Model: m}
			models[m] = mf
		}
		return mf
	}
	flows := map[flowKey]int{}
	for n, d := range f.days {
		if n < firstDay || n > lastDay {
			continue
		}
		for k, c := range d.flows {
			flows[k] += c
		}
		if len(d.toSQLms) > 0 {
			samples[""] = append(samples[""], d.toSQLms...)
		}
	}
	for k, c := range flows {
		mf := get(k.model)
		mf.Flows = append(mf.Flows, Flow{From: k.from, To: k.to, Count: c})
		if stages.entersMQL(k.from, k.to) {
			mf.EnteredMQL += c
		}
		if stages.mqlToSQL(k.from, k.to) {
			mf.MQLToSQL += c
		}
	}
	for m := range f.counts {
		get(m)
	}
	for m, mf := range models {
		for _, s := range stages.Order {
			mf.Stages = append(mf.Stages, StageCount{Stage: s, Leads: f.counts[m][s]})
		}
		sort.Slice(mf.Flows, func(i, j int) bool {
			a, b := mf.Flows[i], mf.Flows[j]
			if a.Count != b.Count {
				return a.Count > b.Count
			}
			return a.From+"\x00"+a.To < b.From+"\x00"+b.To
		})
		if mf.Flows == nil {
			mf.Flows = []Flow{}
		}
		if mf.EnteredMQL > 0 {
			r := float64(mf.MQLToSQL) / float64(mf.EnteredMQL)
			mf.Rate = &r
		}
		out.Models = append(out.Models, *mf)
	}
	// Time to SQL is kept across models (a lead may change model between its
	// MQL and its SQL); it is reported on every model's funnel.
	if s := samples[""]; len(s) > 0 {
		slices.Sort(s)
		med := float64(s[len(s)/2]) / 1000
		for i := range out.Models {
			out.Models[i].TimeToSQLSeconds = &med
		}
	}
	sort.Slice(out.Models, func(i, j int) bool {
		a, b := total(out.Models[i].Stages), total(out.Models[j].Stages)
		if a != b {
			return a > b
		}
		return out.Models[i].Model < out.Models[j].Model
	})
	if out.Models == nil {
		out.Models = []ModelFunnel{}
	}
	return out
}

func total(s []StageCount) int {
	n := 0
	for _, c := range s {
		n += c.Leads
	}
	return n
}

// DeadLetters is the dead-letter part of the health view.
type DeadLetters struct {
	// ByReason counts the dead letters read from the topic, by reason.
	ByReason map[string]int64 `json:"by_reason"`
	// Latest are the latest examples of each reason, newest first.
	Latest []DeadLetter `json:"latest"`
}

// DeadLetters returns the counts and latest examples.
func (f *Feed) DeadLetters() DeadLetters {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := DeadLetters{ByReason: map[string]int64{}, Latest: []DeadLetter{}}
	for r, n := range f.deadCount {
		out.ByReason[r] = n
	}
	for _, l := range f.deadRecent {
		out.Latest = append(out.Latest, l...)
	}
	sort.SliceStable(out.Latest, func(i, j int) bool { return out.Latest[i].At > out.Latest[j].At })
	return out
}

// Event types of the live feed's account changes (the lead changes keep
// "change" and "backlog").
const (
	eventAccountChange  = "account-change"
	eventAccountBacklog = "account-backlog"
)

// marshalLive encodes an entry of the live feed: its event type (event for
// a lead change, or its account counterpart) and its data.
func marshalLive(l Live, event string) (string, []byte) {
	var b []byte
	if l.Account != nil {
		b, _ = json.Marshal(l.Account)
		if event == "backlog" {
			return eventAccountBacklog, b
		}
		return eventAccountChange, b
	}
	b, _ = json.Marshal(l.Lead)
	return event, b
}
