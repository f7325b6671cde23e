package state

import (
	"bytes"
	"fmt"
	"slices"
	"syscall"
	"testing"
)

func TestBoardSummaryFixedWidth(t *testing.T) {
	for _, r := range []int64{0, 1, -1, 123456789, -rankBias + 1, rankBias - 1} {
		s := string(appendBoardSummary(nil, r))
		if len(s) != 16 || s != fmt.Sprintf("%016d", r+rankBias) {
			t.Fatalf("boardSummary(%d) = %q", r, s)
		}
	}
}

func TestRecordCodecRoundTrip(t *testing.T) {
	snaps := []*snapshot{
		{version: 1},
		{version: 1<<21 - 1, deadline: 1_760_000_000, stage: 3, rank: -6_600_000,
			offsets:    []offsetEntry{{1, 0, 10}, {2, 11, 1 << 40}},
			identities: []string{"anon:123e4567-e89b-12d3-a456-426614174000", "email:a@b.c", "user:U-1", "phone:+33", "anon:NOT-A-UUID", "123e4567-e89b-12d3-a456-426614174000", "anon:123E4567-E89B-12D3-A456-426614174000"}},
		{version: 99, flags: flagTombstone | flagAbsorbed, mergedInto: "target", absorbed: []string{"a", "bb"}},
	}
	for i, s := range snaps {
		data := []byte(fmt.Sprintf("data-%d\x00\xff", i))
		enc, _, _ := encodeRecord(nil, s, data)
		got, d, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !bytes.Equal(d, data) || got.version != s.version || got.flags != s.flags || got.deadline != s.deadline ||
			got.stage != s.stage || got.rank != s.rank || got.mergedInto != s.mergedInto ||
			!slices.Equal(got.offsets, s.offsets) || !slices.Equal(got.identities, s.identities) || !slices.Equal(got.absorbed, s.absorbed) {
			t.Fatalf("%d: round trip\n got %+v\nwant %+v", i, got, s)
		}
	}
	// The typical identity pair costs 17 + ~27 bytes.
	if n := len(appendIdentity(nil, "anon:123e4567-e89b-12d3-a456-426614174000")); n != 17 {
		t.Fatalf("uuid identity takes %d bytes", n)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {1}, {1, 0xC0, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 5}, {0x80}} {
		if _, _, err := decodeRecord(b); err == nil {
			t.Fatalf("decoded %x", b)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, s := range []*snapshot{
		{version: 5, deadline: 7, stage: 1, rank: 3, identities: []string{"email:x@y"}},
		{version: 1, flags: flagTombstone, mergedInto: "m"},
	} {
		enc, _, _ := encodeRecord(nil, s, []byte("d"))
		f.Add(enc)
	}
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, data, err := decodeRecord(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a record that decodes the same.
		enc, _, _ := encodeRecord(nil, s, data)
		again, d2, err := decodeRecord(enc)
		if err != nil || !bytes.Equal(d2, data) || again.version != s.version || !slices.Equal(again.identities, s.identities) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func TestOptionsValidate(t *testing.T) {
	ok := Options{Addrs: []string{"127.0.0.1:6379"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Options{
		{},
		{Addrs: []string{"nohost"}},
		{Addrs: []string{"a:1", "b:1"}},
		{Addrs: []string{"a:1"}, Cluster: true, MasterName: "m"},
		{Addrs: []string{"a:1"}, Cluster: true, DB: 1},
		{Addrs: []string{"a:1"}, KeyPrefix: "x{y}"},
		{Addrs: []string{"a:1"}, TimerShards: 64, Buckets: 100},
		{Addrs: []string{"a:1"}, TimerShards: 20000},
		{Addrs: []string{"a:1"}, RankScale: -1},
		{Addrs: []string{"a:1"}, TLS: &TLSOptions{CertFile: "c.pem"}},
		{Addrs: []string{"a:1"}, ReadTimeout: -1},
	}
	for i, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("bad options %d accepted: %+v", i, o)
		}
	}
	for _, o := range []Options{
		{Addrs: []string{"a:1", "b:1"}, Cluster: true},
		{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster"},
	} {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

func TestIsRetryable(t *testing.T) {
	if IsRetryable(nil) || IsRetryable(ErrConflict) || IsRetryable(ErrNotFound) || IsRetryable(fmt.Errorf("x: %w", ErrConflict)) {
		t.Fatal("non-transient classified retryable")
	}
	if !IsRetryable(wrapErr("op", fmt.Errorf("dial: %w", errConnRefused))) {
		t.Fatal("connection refused not retryable")
	}
}

func TestHomeLeadID(t *testing.T) {
	a, b := HomeLeadID("email:a@example.com"), HomeLeadID("email:b@example.com")
	if len(a) != 11 || a == b || a != HomeLeadID("email:a@example.com") || validLeadID(a) != nil {
		t.Fatalf("home ids %q %q", a, b)
	}
	for _, c := range []struct {
		identity, lead string
		want           bool
	}{
		{"email:a@example.com", a, true},
		{"email:b@example.com", a, false},
		{"email:a@example.com", "email:a@example.com", false},
		{"email:a@example.com", "anon:abcdef", false}, // a home id's length, another id
		{"email:a@example.com", "", false},
	} {
		if got := IsHomeLeadID(c.identity, c.lead); got != c.want {
			t.Errorf("IsHomeLeadID(%q, %q) = %v, want %v", c.identity, c.lead, got, c.want)
		}
	}
}

var errConnRefused error = syscall.ECONNREFUSED
