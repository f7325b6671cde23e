package scoring_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/leadscore/leadscore/scoring"
)

// nameTable is a scoring.NameTable in memory: ids 1, 2, … in the order
// of names.
type nameTable struct {
	ids   map[string]uint64
	names []string
}

func newNameTable(names ...string) *nameTable {
	t := &nameTable{ids: map[string]uint64{}}
	for _, n := range names {
		t.ids[n] = uint64(len(t.names) + 1)
		t.names = append(t.names, n)
	}
	return t
}

func (t *nameTable) NameID(n string) (uint64, bool) {
	id, ok := t.ids[n]
	return id, ok
}

func (t *nameTable) Name(id uint64) (string, bool) {
	if id == 0 || id > uint64(len(t.names)) {
		return "", false
	}
	return t.names[id-1], true
}

// richNames are the names richState draws from rules, in a table's order.
var richNames = []string{"mql", "b2b-saas-2026.11", "pricing_page", "renamed_rule", "page_visit", "email_open",
	"title", "company.employee_count", "visitor", "lead", "rejected"}

// goldenNames is richState and a new lead's state written with
// newNameTable(richNames...) (format 4): records written so must keep
// decoding to the same states.
var goldenNames = []struct {
	hex  string
	want scoring.State
}{
	{"040b070643544f0b222658073b385b4a0468ec6a2cfb3ec338093ff23fd40cd845132dad2163f17f0866622d3113d45bc9a89677171e9f426ad20c202601080980a4cbd9f166decf98f701b8170142010000000000404540040a013b6f2fd3fcb028400b0a0c0100000000000000800d00020e00010f0102010000000000487a40030a0703b817c2d8b25286f0b2520414140100000000000004400c280200d00f01040d010000030000000000000080000100000000000000d00f1032547698badcfeb0d0e5a40103101180d098f70101000a0000033c00010a3c1108decf98f70183420012040501a1f7c61000003e40010000000000404540020a01736891ed7cff2d400b0a08080004000000000001000000000000f4bf000002020607010980c0cbc90203020000020d090003732d310280f0b252d00f030c0b0380c4c181856780f0b252040403030000051413646f6d61696e3a61636d652e6578616d706c65",
		richState()},
	{"04090002090200000000000000000000000000", scoring.State{Stage: "visitor", Model: "b2b-saas-2026.11"}},
}

func TestStateDecodesFormatNames(t *testing.T) {
	table := newNameTable(richNames...)
	for i, g := range goldenNames {
		b, err := hex.DecodeString(g.hex)
		if err != nil {
			t.Fatal(err)
		}
		var st scoring.State
		if err := st.UnmarshalBinaryNames(b, table); err != nil {
			t.Fatalf("golden %d: %v", i, err)
		}
		if !reflect.DeepEqual(st, g.want) {
			t.Fatalf("golden %d decodes to\n%+v\nwant\n%+v", i, st, g.want)
		}
		if again, _ := g.want.AppendBinaryNames(nil, table); !bytes.Equal(again, b) {
			t.Fatalf("golden %d encodes to\n%x\nnow", i, again)
		}
	}
	// Records written before the table (formats 1 and 3) decode with one.
	rich := richState()
	v3, _ := rich.MarshalBinary()
	older := []struct {
		hex  string
		want scoring.State
	}{{hex.EncodeToString(v3), rich}}
	for _, g := range append(older, goldenV1...) {
		b, _ := hex.DecodeString(g.hex)
		var st scoring.State
		if err := st.UnmarshalBinaryNames(b, table); err != nil || !reflect.DeepEqual(st, g.want) {
			t.Fatalf("format %d with a table: %v\n%+v", b[0], err, st)
		}
	}
}

// packedName is how a format 3 table writes name (packed).
func packedName(t *testing.T, name string) []byte {
	t.Helper()
	st := scoring.State{Stage: name}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// format, table length, the string's header, then the string.
	return b[3 : 3+(len(name)+2)/3*2]
}

// A state encoded with a name table writes the names the table knows as
// ids (format 4) and decodes, with the table, to an equal state; without
// a table, or with one that does not know them, it encodes exactly as
// before tables existed.
func TestStateEncodingWithNames(t *testing.T) {
	rich := richState()
	plain, err := rich.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	empty := scoring.State{}
	newLead := scoring.State{Stage: "visitor", Model: "b2b-saas-2026.11"}
	// A trait value and a feedback reason equal to a name: both ways
	// decode to the same string.
	shared := richState()
	shared.Traits[0].Str = "pricing_page"
	shared.Recent[1].Cause.Reason = "mql"
	cases := []struct {
		name   string
		st     scoring.State
		table  scoring.NameTable
		format byte
	}{
		{"rich, every name known", rich, newNameTable(richNames...), 4},
		{"rich, some names known", rich, newNameTable("pricing_page", "visitor", "zzz", "mql"), 4},
		{"rich, no name known", rich, newNameTable("other"), 3},
		{"rich, no table", rich, nil, 3},
		{"new lead", newLead, newNameTable(richNames...), 4},
		{"empty", empty, newNameTable(richNames...), 3},
		{"strings both names and data", shared, newNameTable(richNames...), 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.st.AppendBinaryNames(nil, c.table)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != c.format {
				t.Fatalf("format %d, want %d", b[0], c.format)
			}
			if c.format == 3 {
				want, _ := c.st.MarshalBinary()
				if !bytes.Equal(b, want) {
					t.Fatalf("without names known, the encoding differs from MarshalBinary's:\n%x\n%x", b, want)
				}
			}
			var back scoring.State
			if err := back.UnmarshalBinaryNames(b, c.table); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, c.st) {
				t.Fatalf("decodes to\n%+v\nwant\n%+v", back, c.st)
			}
			if again, _ := back.AppendBinaryNames(nil, c.table); !bytes.Equal(again, b) {
				t.Fatal("encoding is not stable across a round trip")
			}
		})
	}
	// Every name known: none is in the bytes, packed or not, and the state
	// is much smaller.
	b, _ := rich.AppendBinaryNames(nil, newNameTable(richNames...))
	for _, n := range []string{"pricing_page", "renamed_rule", "b2b-saas-2026.11", "company.employee_count", "visitor"} {
		if bytes.Contains(b, []byte(n)) || bytes.Contains(b, packedName(t, n)) {
			t.Errorf("the encoding with a name table still holds %q", n)
		}
	}
	if len(b) > len(plain)-60 {
		t.Errorf("rich state: %d B with a name table, %d B without", len(b), len(plain))
	}
	t.Logf("rich state: %d B without a name table, %d B with one", len(plain), len(b))
}

// askedTable is a name table that knows every name and notes those it is
// asked for.
type askedTable struct{ nameTable }

func (a *askedTable) NameID(n string) (uint64, bool) {
	if _, ok := a.ids[n]; !ok {
		a.names = append(a.names, n)
		a.ids[n] = uint64(len(a.names))
	}
	return a.ids[n], true
}

// Only names drawn from the rules go to the table: not event data (trigger
// ids, trait values, feedback reasons, absorbed lead ids, the lead id a
// merge names as its cause), whose values no table could bound.
func TestStateNamesAreRuleNames(t *testing.T) {
	st := richState()
	st.Recent = append(st.Recent, scoring.Transition{From: "mql", To: "mql", At: t0,
		Cause: scoring.Cause{Kind: scoring.CauseMerge, Rule: "anon-merged-lead"}, TriggerID: "ev-9"})
	asked := &askedTable{nameTable{ids: map[string]uint64{}}}
	b, err := st.AppendBinaryNames(nil, asked)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, n := range asked.names {
		got[n] = true
	}
	want := map[string]bool{}
	for _, n := range richNames {
		want[n] = true
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("names asked of the table: %q, want %q", asked.names, richNames)
	}
	var back scoring.State
	if err := back.UnmarshalBinaryNames(b, asked); err != nil || !reflect.DeepEqual(back, st) {
		t.Fatalf("decodes to %+v (%v)", back, err)
	}
}

// A state that names ids fails with ErrUnknownName when decoded without a
// table, or with one that does not know an id yet (an older copy); bytes
// that name an id beyond the one its header announces are corrupt.
func TestStateNamesUnknown(t *testing.T) {
	rich := richState()
	full := newNameTable(richNames...)
	b, _ := rich.AppendBinaryNames(nil, full)
	if got, want := scoring.MaxNameID(b), uint64(len(richNames)); got != want {
		t.Fatalf("MaxNameID = %d, want %d", got, want)
	}
	plain, _ := rich.MarshalBinary()
	if got := scoring.MaxNameID(plain); got != 0 {
		t.Fatalf("MaxNameID of a state without names = %d", got)
	}
	older := newNameTable(richNames[:len(richNames)-1]...)
	for name, table := range map[string]scoring.NameTable{"no table": nil, "older table": older} {
		var st scoring.State
		err := st.UnmarshalBinaryNames(b, table)
		if !errors.Is(err, scoring.ErrUnknownName) || errors.Is(err, scoring.ErrCorruptState) {
			t.Errorf("%s: err = %v, want ErrUnknownName", name, err)
		}
	}
	var st scoring.State
	if err := st.UnmarshalBinary(b); !errors.Is(err, scoring.ErrUnknownName) {
		t.Errorf("UnmarshalBinary: err = %v, want ErrUnknownName", err)
	}
	// The new lead's state: format 4, max id 9 ("visitor"), an empty
	// table, flags, then the stage's reference 0+9: announce 8 instead.
	nl := scoring.State{Stage: "visitor", Model: "b2b-saas-2026.11"}
	b, _ = nl.AppendBinaryNames(nil, full)
	if b[0] != 4 || b[1] != 9 || b[2] != 0 || b[4] != 9 {
		t.Fatalf("unexpected encoding %x", b)
	}
	b[1] = 8
	if err := st.UnmarshalBinaryNames(b, full); !errors.Is(err, scoring.ErrCorruptState) {
		t.Errorf("a reference beyond the announced id: err = %v, want ErrCorruptState", err)
	}
}

// A lead of several models encodes each state with the table; MaxNameID
// reads the largest id of them all.
func TestLeadEncodingWithNames(t *testing.T) {
	saas, shop := twoModels(t)
	set, l, _ := twoPricingPages(t, saas, shop, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	var names []string
	for i := range l.States {
		st := &l.States[i]
		names = append(names, st.Stage, st.Model)
		for _, c := range st.Contribs {
			names = append(names, c.Rule)
		}
	}
	table := newNameTable(names...)
	b, err := l.AppendBinaryNames(nil, set.Names(), table)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := l.AppendBinary(nil, set.Names())
	if len(b) >= len(plain) {
		t.Fatalf("%d B with a name table, %d B without", len(b), len(plain))
	}
	if got := scoring.MaxNameID(b); got == 0 || got > uint64(len(names)) {
		t.Fatalf("MaxNameID = %d", got)
	}
	back, err := set.DecodeNames(b, table)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.States, l.States) {
		t.Fatalf("decodes to\n%+v\nwant\n%+v", back.States, l.States)
	}
	if _, err := set.Decode(b); !errors.Is(err, scoring.ErrUnknownName) {
		t.Fatalf("Decode without a table: err = %v, want ErrUnknownName", err)
	}
}
