package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore/scoring"
)

const trackJSON = `{"type":"track","event":"Demo Requested","userId":"crm-1","properties":%s,"timestamp":"2026-03-02T09:20:00Z"}`

func TestOptions(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Fatalf("zero Options: %v", err)
	}
	d := newTestDecoder(t, Options{})
	want := Options{MaxBytes: DefaultMaxBytes, MaxDepth: DefaultMaxDepth, MinTime: DefaultMinTime, MaxTime: DefaultMaxTime}
	if got := d.Options(); got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	if got := time.UnixMilli(DefaultMinTime).UTC(); got != time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("DefaultMinTime is %v", got)
	}
	if got := time.UnixMilli(DefaultMaxTime + 1).UTC(); got != time.Date(2101, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("DefaultMaxTime+1ms is %v", got)
	}
	for _, bad := range []Options{
		{MaxBytes: -1},
		{MaxDepth: -1},
		{MaxDepth: maxDepthLimit + 1},
		{MinTime: 2_000_000_000_000, MaxTime: 1_000_000_000_000},
	} {
		if _, err := NewDecoder(bad); err == nil || !strings.HasPrefix(err.Error(), "events: invalid options: ") {
			t.Errorf("NewDecoder(%+v) error = %v", bad, err)
		}
	}
}

func TestErrorAndReasonOf(t *testing.T) {
	e := newError(ReasonMissingIdentity, "userId", "track needs anonymousId or userId")
	if got := e.Error(); got != "missing_identity: track needs anonymousId or userId" {
		t.Errorf("Error() = %q", got)
	}
	if got := ReasonOf(fmt.Errorf("partition 3 offset 1234: %w", e)); got != ReasonMissingIdentity {
		t.Errorf("ReasonOf(wrapped) = %q", got)
	}
	if got := ReasonOf(nil); got != "" {
		t.Errorf("ReasonOf(nil) = %q", got)
	}
	if got := ReasonOf(errors.New("other")); got != "" {
		t.Errorf("ReasonOf(other) = %q", got)
	}
	if n := len(Reasons()); n != 14 {
		t.Errorf("%d reasons, want 14", n)
	}
}

func TestDecodeBadSource(t *testing.T) {
	d := newTestDecoder(t, Options{})
	_, err := d.Decode(scoring.Source(9), []byte(`{}`))
	if err == nil || ReasonOf(err) != "" {
		t.Errorf("Decode(source 9) error = %v, want a programming error without a reason", err)
	}
}

// TestDecodeAnyMixedLog decodes a JSONL log mixing the three sources.
func TestDecodeAnyMixedLog(t *testing.T) {
	var log bytes.Buffer
	for _, f := range []string{"segment-page.json", "segment-identify.json", "segment-track.json", "segment-alias.json"} {
		b, err := os.ReadFile(filepath.Join("..", "schemas", "testdata", "web", "valid", f))
		if err != nil {
			t.Fatal(err)
		}
		log.Write(bytes.TrimSpace(b))
		log.WriteByte('\n')
	}
	log.WriteString(`{"email":"a@example.com","timestamp":1772615400,"event":"open"}` + "\n")                    // SendGrid without sg_event_id
	log.WriteString(`{"sg_event_id":"x","email":"a@example.com","timestamp":1772615400,"event":"click"}` + "\n") // SendGrid
	log.WriteString(`{"lead_id":"ld_1","kind":"accepted","at":"2026-03-02T10:05:00Z"}` + "\n")                   // feedback
	log.WriteString(`{"hello":"world"}` + "\n")                                                                  // none
	want := []scoring.Source{scoring.SourceWeb, scoring.SourceWeb, scoring.SourceWeb, scoring.SourceWeb,
		scoring.SourceEmail, scoring.SourceEmail, scoring.SourceFeedback, scoring.SourceUnknown}

	d := newTestDecoder(t, Options{})
	for i, line := range bytes.Split(bytes.TrimSpace(log.Bytes()), []byte("\n")) {
		ev, err := d.DecodeAny(line)
		if want[i] == scoring.SourceUnknown {
			if ReasonOf(err) != ReasonUnknownType {
				t.Errorf("line %d: error %v, want unknown_type", i+1, err)
			}
			continue
		}
		if err != nil || ev.Source != want[i] {
			t.Errorf("line %d: source %v, error %v; want %v", i+1, ev.Source, err, want[i])
		}
	}
}

func TestTooLargeByDefault(t *testing.T) {
	d := newTestDecoder(t, Options{})
	payload := fmt.Appendf(nil, trackJSON, `{"blob":"`+strings.Repeat("x", DefaultMaxBytes)+`"}`)
	if _, err := d.Decode(scoring.SourceWeb, payload); ReasonOf(err) != ReasonTooLarge {
		t.Errorf("error %v, want too_large", err)
	}
	payload = fmt.Appendf(nil, trackJSON, `{"blob":"`+strings.Repeat("x", DefaultMaxBytes-200)+`"}`)
	if _, err := d.Decode(scoring.SourceWeb, payload); err != nil {
		t.Errorf("%d bytes: %v", len(payload), err)
	}
}

func TestOptionsApply(t *testing.T) {
	d := newTestDecoder(t, Options{
		MaxDepth: 3,
		MinTime:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		MaxTime:  time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli(),
	})
	for _, c := range []struct {
		payload string
		want    Reason
	}{
		{fmt.Sprintf(trackJSON, `{"a":{"b":1}}`), ""},
		{fmt.Sprintf(trackJSON, `{"a":{"b":[1]}}`), ReasonTooDeep},
		{`{"type":"track","event":"x","userId":"u","timestamp":"2025-12-31T23:59:59.999Z"}`, ReasonTimestampOutOfRange},
		{`{"type":"track","event":"x","userId":"u","timestamp":"2027-01-01T00:00:00Z"}`, ReasonTimestampOutOfRange},
	} {
		if _, err := d.Decode(scoring.SourceWeb, []byte(c.payload)); ReasonOf(err) != c.want {
			t.Errorf("%s: error %v, want %q", c.payload, err, c.want)
		}
	}
}

func TestHashID(t *testing.T) {
	d := newTestDecoder(t, Options{})
	payload := []byte(`{"type":"track","event":"x","userId":"u","timestamp":"2026-03-02T09:20:00Z"}`)
	decode := func(src scoring.Source, p []byte) string {
		t.Helper()
		ev, err := d.Decode(src, p)
		if err != nil {
			t.Fatal(err)
		}
		return ev.ID
	}
	id := decode(scoring.SourceWeb, payload)
	if !regexp.MustCompile(`^h:[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("derived id %q", id)
	}
	if again := decode(scoring.SourceWeb, bytes.Clone(payload)); again != id {
		t.Errorf("same bytes, new id %q != %q", again, id)
	}
	if other := decode(scoring.SourceWeb, append(bytes.Clone(payload), '\n')); other == id {
		t.Error("different bytes, same id")
	}
	if other := decode(scoring.SourceUnknown, payload); other != id {
		t.Errorf("DecodeAny gives %q, Decode %q", other, id)
	}
}

// TestEventOwnsItsMemory checks that an Event shares no memory with the payload or
// with the decoder's buffers.
func TestEventOwnsItsMemory(t *testing.T) {
	d := newTestDecoder(t, Options{})
	payload, err := os.ReadFile(filepath.Join("..", "schemas", "testdata", "web", "valid", "segment-track-products-array.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := d.Decode(scoring.SourceWeb, payload)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(ev)
	for i := range payload {
		payload[i] = ' '
	}
	for _, f := range []string{"segment-page.json", "segment-identify.json"} {
		other, _ := os.ReadFile(filepath.Join("..", "schemas", "testdata", "web", "valid", f))
		if _, err := d.Decode(scoring.SourceWeb, other); err != nil {
			t.Fatal(err)
		}
	}
	if after, _ := json.Marshal(ev); !bytes.Equal(before, after) {
		t.Errorf("event changed after its payload and the decoder were reused:\n%s\n%s", before, after)
	}
}

// TestDecodersInParallel runs one decoder per goroutine, as the processor does (run
// with -race).
func TestDecodersInParallel(t *testing.T) {
	var payloads [][]byte
	for src := range exampleDirs {
		for _, ex := range examples(t, src) {
			payloads = append(payloads, ex.payload)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			d := newTestDecoder(t, testOptions)
			for range 3 {
				for _, p := range payloads {
					d.DecodeAny(p)
				}
			}
		})
	}
	wg.Wait()
}

func TestParseDateTime(t *testing.T) {
	for _, s := range []string{
		"2026-03-02T09:14:05.350Z", "2026-03-02t09:14:05z", "2026-03-02T10:14:05+01:00",
		"2026-03-02T09:14:05.123456789-07:30", "2024-02-29T00:00:00Z", "2000-01-01T00:00:00Z",
		"2100-12-31T23:59:59.9Z", "1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
	} {
		want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseDateTime([]byte(s))
		if !ok || got != want.UnixMilli() {
			t.Errorf("parseDateTime(%q) = %d, %v; want %d", s, got, ok, want.UnixMilli())
		}
	}
	if got, ok := parseDateTime([]byte("2016-12-31T23:59:60Z")); !ok || got != time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() {
		t.Errorf("leap second: %d, %v", got, ok)
	}
	for _, s := range []string{
		"", "2026-03-02", "2026-03-02T09:14:05", "2026-03-02 09:14:05Z", "2026-3-02T09:14:05Z",
		"2026-02-29T09:14:05Z", "2100-02-29T09:14:05Z", "2026-04-31T09:14:05Z", "2026-13-01T09:14:05Z",
		"2026-00-01T09:14:05Z", "2026-03-00T09:14:05Z", "2026-03-02T24:00:00Z", "2026-03-02T09:60:00Z",
		"2026-03-02T09:14:61Z", "2026-03-02T09:14:60Z", "2026-03-02T09:14:05.Z", "2026-03-02T09:14:05+0100",
		"2026-03-02T09:14:05+24:00", "2026-03-02T09:14:05+01:60", "2026-03-02T09:14:05ZZ", "+026-03-02T09:14:05Z",
		"2026-03-02T09:14:05 Z", "２０２６-03-02T09:14:05Z",
	} {
		if ms, ok := parseDateTime([]byte(s)); ok {
			t.Errorf("parseDateTime(%q) = %d, want rejection", s, ms)
		}
	}
}

func TestIsInteger(t *testing.T) {
	for n, want := range map[string]bool{
		"0": true, "-0": true, "42": true, "42.0": true, "42.000": true, "4.2e1": true, "4.2E+1": true,
		"420e-1": true, "4200e-2": true, "4201e-2": false, "42.5": false, "0.5e1": true, "0.55e1": false,
		"1e400": true, "1e-400": false, "0e99999999": true, "1e1000001": false, "0.0e-5": true,
		"1e99999999999999999999": false, "-7": true, "1.5": false,
	} {
		if got := isInteger([]byte(n)); got != want {
			t.Errorf("isInteger(%s) = %v, want %v", n, got, want)
		}
	}
}

func TestEmailAddress(t *testing.T) {
	for in, want := range map[string]string{
		"claire@acme.example":       "claire@acme.example",
		"  Paul.Durand@Example.ORG": "paul.durand@example.org",
		"\tJörg@Exämple.de\n":       "jörg@exämple.de",
		"a@b":                       "a@b",
		"":                          "",
		"   ":                       "",
		"no-at.example":             "",
		"@acme.example":             "",
		"claire@":                   "",
		"a@b@c":                     "",
		"claire martin@acme":        "",
		"Claire <c@acme.example>":   "",
	} {
		got, ok := emailAddress([]byte(in))
		if got != want || ok != (want != "") {
			t.Errorf("emailAddress(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestURLPath(t *testing.T) {
	for in, want := range map[string]string{
		"https://www.example.com/pricing":            "/pricing",
		"https://www.example.com/a/b?x=1#top":        "/a/b",
		"https://www.example.com":                    "/",
		"https://www.example.com?utm_source=x":       "/",
		"//cdn.example.com/x.js":                     "/x.js",
		"/relative/path?q":                           "/relative/path",
		"mailto:someone@example.com":                 "",
		"":                                           "",
		"https://user:pw@host.example:8443/p%20q/#f": "/p%20q/",
	} {
		if got := urlPath(in); got != want {
			t.Errorf("urlPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFlatten(t *testing.T) {
	d := newTestDecoder(t, Options{})
	deep := `{"l1":{"l2":{"l3":{"l4":{"l5":{"l6":{"l7":{"l8":{"l9":1},"kept":true}}}}}}}}`
	payload := fmt.Sprintf(trackJSON, `{"int":420.0,"big":1e21,"small":0.000001,"tiny":1e-7,"neg":-2.5,`+
		`"huge":1e400,"null":null,"list":[1,"a",[true]],"objs":[{"id":1},{"id":2}],"empty":{},"none":[],"deep":`+deep+`}`)
	ev, err := d.Decode(scoring.SourceWeb, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ev.Properties {
		got = append(got, fmt.Sprintf("%s:%d:%s", p.Key, p.Kind, p.Str))
	}
	want := []string{
		"int:1:420", "big:1:1e+21", "small:1:0.000001", "tiny:1:1e-07", "neg:1:-2.5", "huge:1:1e400", "null:3:",
		"list:1:1", "list:0:a", "list:2:true", "objs.id:1:1", "objs.id:1:2", "deep.l1.l2.l3.l4.l5.l6.l7.kept:2:true",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("properties:\n got %v\nwant %v", got, want)
	}
	if p, _ := ev.Properties.Get("neg"); p.Num != -2.5 {
		t.Errorf("neg.Num = %v", p.Num)
	}
}

// TestSyntaxAgreesWithEncodingJSON compares the structural scanner with encoding/json
// on documents that are valid UTF-8 and escape no unpaired surrogate.
func TestSyntaxAgreesWithEncodingJSON(t *testing.T) {
	for _, doc := range []string{
		`{}`, `[]`, `""`, `0`, `-0`, `-0.0e+0`, `1E5`, `true`, `null`, ` {"a" : [ 1 , 2 ] } `,
		`{"a":"\u00e9\ud83d\ude80\"\\\/\b\f\n\r\t"}`, "{\"a\":\"\x7f\"}", `{"é":"ü"}`,
		``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{'a':1}`, `01`, `1.`, `.5`, `+1`, `1e`, `1e+`,
		`-`, `--1`, `NaN`, `Infinity`, `nul`, `truex`, `[1 2]`, `{"a":1}{}`, `{"a":1} x`, "{\"a\":\"\t\"}",
		`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12G4"}`, `"abc`, `"abc\"`, "\ufeff{}", `{"a":1e400}`, `[[[]]]`,
	} {
		want := json.Valid([]byte(doc))
		err := checkSyntax([]byte(doc), 64)
		if got := err == nil; got != want {
			t.Errorf("%q: scanner says %v (%v), encoding/json says %v", doc, got, err, want)
		}
	}
	for doc, want := range map[string]Reason{
		`"\ud800"`: ReasonInvalidUTF8, `"\udc00"`: ReasonInvalidUTF8, `"\ud800\u0041"`: ReasonInvalidUTF8,
		`"\ud800\uZZZZ"`: ReasonInvalidJSON, `[[[1]]]`: ReasonTooDeep,
	} {
		if got := checkSyntax([]byte(doc), 2); ReasonOf(got) != want {
			t.Errorf("%s: %v, want %s", doc, got, want)
		}
	}
}

func TestDuplicateKeyPath(t *testing.T) {
	d := newTestDecoder(t, Options{})
	for payload, want := range map[string]string{
		`{"type":"page","anonymousId":"a","context":{"page":{"url":"x","url":"y"}}}`: "context.page.url",
		`{"type":"track","properties":{"products":[{"id":1},{"id":2,"id":3}]}}`:      "properties.products[1].id",
		`{"type":"track","properties":{"m":[[{"a":1}],[{"b":1,"b":2}]]}}`:            "properties.m[1][0].b",
		`{"type":"track","typ\u0065":"page"}`:                                        "type",
		`{"type":"track","properties":{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,` +
			`"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k3":3}}`: "properties.k3",
	} {
		_, err := d.Decode(scoring.SourceWeb, []byte(payload))
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonDuplicateKey || e.Field != want {
			t.Errorf("%s: error %v, want duplicate_key at %s", payload, err, want)
		} else if e.Msg != fmt.Sprintf("key %q appears twice in one object", want) {
			t.Errorf("%s: message %q", payload, e.Msg)
		}
	}
}

// TestDuplicateKeyTreeCheck covers the objects the scanner leaves to the tree walk:
// escaped keys and more than smallObject keys.
func TestDuplicateKeyTreeCheck(t *testing.T) {
	var wide strings.Builder
	for i := range smallObject + 5 {
		fmt.Fprintf(&wide, `"k%d":%d,`, i, i)
	}
	d := newTestDecoder(t, Options{})
	for payload, want := range map[string]string{
		`{"type":"track","properties":{` + wide.String() + `"k7":"again"}}`:           "properties.k7",
		`{"type":"track","properties":{` + wide.String() + `"k77":"once"}}`:           "",
		`{"type":"track","prop\u0065rties":{"a":{"b":1,"b":2}}}`:                      "properties.a.b",
		`{"type":"track","properties":{"a\u00e9":1,"aé":2}}`:                          "properties.aé",
		`{"type":"track","properties":{"a\n":1,"a\u000a":2}}`:                         "properties.a\n",
		`{"type":"track","properties":{"x\\y":1,"x\u005cy":2}}`:                       `properties.x\y`,
		`{"type":"track","properties":{"\ud83d\ude80":1,"🚀":2}}`:                      "properties.🚀",
		`{"type":"track","properties":{"a\"":1,"a\u0022":2},"context":{"k":1,"k":2}}`: `properties.a"`,
	} {
		_, err := d.Decode(scoring.SourceWeb, []byte(payload))
		var e *Error
		if want == "" {
			if ReasonOf(err) == ReasonDuplicateKey {
				t.Errorf("%s: %v", payload, err)
			}
			continue
		}
		if !errors.As(err, &e) || e.Reason != ReasonDuplicateKey || e.Field != want {
			t.Errorf("%.60s…: error %v, want duplicate_key at %q", payload, err, want)
		}
	}
}

// Visits need the sender's session id (a string or a number), and BANT criteria
// the buyer's timeline in days.
func TestSessionIDAndTimeframeDays(t *testing.T) {
	d, err := NewDecoder(Options{})
	if err != nil {
		t.Fatal(err)
	}
	page := func(session string) string {
		return `{"type":"page","messageId":"m1","anonymousId":"a1","name":"Home","timestamp":"2026-03-02T10:00:00Z","context":{"sessionId":` + session + `}}`
	}
	for _, c := range []struct{ in, want string }{{`"s-42"`, "s-42"}, {`1772615123456`, "1772615123456"}, {`null`, ""}} {
		ev, err := d.DecodeAny([]byte(page(c.in)))
		if err != nil || ev.SessionID != c.want {
			t.Errorf("sessionId %s: %q, %v; want %q", c.in, ev.SessionID, err, c.want)
		}
	}
	if _, err := d.DecodeAny([]byte(page(`{"id":1}`))); ReasonOf(err) != ReasonWrongType {
		t.Errorf("sessionId object: %v, want wrong_type", err)
	}
	fb := func(bant string) string {
		return `{"feedback_id":"f1","lead_id":"user:u1","kind":"qualified","at":"2026-03-02T10:00:00Z","bant":` + bant + `}`
	}
	ev, err := d.DecodeAny([]byte(fb(`{"budget":true,"timeframe":true,"timeframe_days":90}`)))
	if err != nil || ev.TimeframeDays != 90 || !ev.BANT["budget"] || !ev.BANT["timeframe"] {
		t.Fatalf("timeframe_days: %+v, %v", ev, err)
	}
	for _, bad := range []string{`{"timeframe_days":0}`, `{"timeframe_days":1.5}`, `{"timeframe_days":"soon"}`, `{"timeframe_days":99999}`} {
		if _, err := d.DecodeAny([]byte(fb(bad))); err == nil {
			t.Errorf("bant %s accepted", bad)
		}
	}
}

// The account comes from a group call's groupId or from context.groupId, and a
// group call's traits are the account's, never the person's: their e-mail names
// nobody and their name or address would mislead fit rules.
func TestAccount(t *testing.T) {
	d := newTestDecoder(t, Options{})
	const ts = `"timestamp":"2026-03-02T10:00:00Z"`
	for _, c := range []struct {
		name, in      string
		account       string
		traits        []string // keys of Traits
		accountTraits []string // keys of AccountTraits
		email         string
	}{
		{"group", `{"type":"group","userId":"u1","groupId":"acct-1","traits":{"name":"Initech","employees":329,"email":"billing@initech.example"},"context":{"traits":{"email":"Peter@initech.example"}},` + ts + `}`,
			"acct-1", []string{"email"}, []string{"name", "employees", "email"}, "peter@initech.example"},
		{"group's groupId wins over its context's", `{"type":"group","userId":"u1","groupId":"acct-1","context":{"groupId":"acct-2"},` + ts + `}`,
			"acct-1", nil, nil, ""},
		{"track with context.groupId", `{"type":"track","event":"Demo Requested","userId":"u1","context":{"groupId":"acct-2"},` + ts + `}`,
			"acct-2", nil, nil, ""},
		{"identify keeps its traits", `{"type":"identify","userId":"u1","traits":{"email":"a@b.example","name":"Ann"},"context":{"groupId":"acct-3"},` + ts + `}`,
			"acct-3", []string{"email", "name"}, nil, "a@b.example"},
		{"page with context.groupId null", `{"type":"page","anonymousId":"a1","context":{"groupId":null},` + ts + `}`,
			"", nil, nil, ""},
		{"alias with empty context.groupId", `{"type":"alias","previousId":"a1","userId":"u1","context":{"groupId":""},` + ts + `}`,
			"", nil, nil, ""},
		{"a groupId outside a group call is not the account", `{"type":"track","event":"X","userId":"u1","groupId":"acct-4",` + ts + `}`,
			"", nil, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev, err := d.Decode(scoring.SourceWeb, []byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Account != c.account {
				t.Errorf("Account = %q, want %q", ev.Account, c.account)
			}
			if got := propKeys(ev.Traits); !slices.Equal(got, c.traits) {
				t.Errorf("Traits keys = %q, want %q", got, c.traits)
			}
			if got := propKeys(ev.AccountTraits); !slices.Equal(got, c.accountTraits) {
				t.Errorf("AccountTraits keys = %q, want %q", got, c.accountTraits)
			}
			if ev.Identity.Email != c.email {
				t.Errorf("Email = %q, want %q", ev.Identity.Email, c.email)
			}
		})
	}
	for _, bad := range []string{`48213`, `{"id":"acct-1"}`, `["acct-1"]`, `true`} {
		_, err := d.Decode(scoring.SourceWeb, []byte(`{"type":"page","anonymousId":"a1","context":{"groupId":`+bad+`},`+ts+`}`))
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonWrongType || e.Field != "context.groupId" {
			t.Errorf("context.groupId %s: %v, want wrong_type on context.groupId", bad, err)
		}
	}
}

func propKeys(p scoring.Props) []string {
	var keys []string
	for _, x := range p {
		keys = append(keys, x.Key)
	}
	return keys
}
