package eventually

import (
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/syncbuf"
)

func TestTrue(t *testing.T) {
	var n atomic.Int32
	True(t, 5*time.Second, "the third check", func() bool { return n.Add(1) == 3 })
	if got := n.Load(); got != 3 {
		t.Fatalf("cond checked %d times, want 3 (until it holds)", got)
	}
}

func TestMatch(t *testing.T) {
	var out syncbuf.Buffer
	go func() {
		time.Sleep(60 * time.Millisecond)
		out.Write([]byte("listening on 127.0.0.1:4242\n"))
	}()
	if got := Match(t, &out, regexp.MustCompile(`listening on (\S+)`), 5*time.Second); got != "127.0.0.1:4242" {
		t.Fatalf("Match = %q, want the first group", got)
	}
}

func TestPollGivesUp(t *testing.T) {
	start := time.Now()
	if poll(50*time.Millisecond, 10*time.Millisecond, func() bool { return false }) {
		t.Fatal("poll of a condition that never holds reported success")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("poll gave up after %v, before its 50 ms", d)
	}
}
