package processor

import "testing"

func TestSoleOwner(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ids   []string
		owned []int32
		want  int
	}{
		{"no members", nil, nil, -1},
		{"nobody claims: the first by id", []string{"m-b", "m-a", "m-c"}, []int32{-1, -1, -1}, 1},
		{"the owner keeps them when a member joins", []string{"m-a", "m-z"}, []int32{-1, 4}, 1},
		{"an evicted member's older claim loses", []string{"m-a", "m-z"}, []int32{3, 5}, 1},
		{"equal claims: the first by id", []string{"m-z", "m-a"}, []int32{5, 5}, 1},
	} {
		if got := SoleOwner(tc.ids, tc.owned); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	for _, g := range []int32{-1, 0, 7, 1 << 30} {
		if got := ParseSoleOwnerClaim(SoleOwnerClaim(g)); got != g {
			t.Errorf("claim %d decodes as %d", g, got)
		}
	}
	for _, b := range [][]byte{nil, {0}, {1}, {2, 0, 0, 0, 1}} {
		if got := ParseSoleOwnerClaim(b); got != -1 {
			t.Errorf("user data %v decodes as claim %d, want none", b, got)
		}
	}
}
