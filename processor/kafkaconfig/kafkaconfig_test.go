package kafkaconfig

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/processor"
)

func TestValidate(t *testing.T) {
	valid := Config{Brokers: []string{"localhost:9092"}, Group: "g", InputTopics: []string{"in"}}
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate of a minimal config: %v", err)
	}
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "brokers") ||
		!strings.Contains(err.Error(), "group") || !strings.Contains(err.Error(), "input topics") {
		t.Fatalf("Validate of an empty config: %v, want brokers, group and input topics", err)
	}
	bad := valid
	bad.FetchMaxWait = -time.Second
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "fetch max wait: must be positive") {
		t.Fatalf("Validate with a negative fetch max wait: %v", err)
	}
}

func TestMechanismName(t *testing.T) {
	if m, err := (SASLConfig{Mechanism: "scram-sha-256"}).MechanismName(); err != nil || m != MechanismScramSHA256 {
		t.Fatalf("MechanismName(scram-sha-256) = %q, %v", m, err)
	}
	if _, err := (SASLConfig{Mechanism: "GSSAPI"}).MechanismName(); err == nil {
		t.Fatal("MechanismName(GSSAPI) accepted")
	}
}

func TestTurn(t *testing.T) {
	ctx := context.Background()
	turn := NewTurn()
	if ok, err := turn.AcquireProduce(ctx, 0); ok || err != nil {
		t.Fatalf("AcquireProduce of no records = %v, %v; want false, nil", ok, err)
	}
	if err := turn.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := turn.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire of a held turn: %v, want the context's error", err)
	}
	if turn.MarkClosed() {
		t.Fatal("MarkClosed of an open client reported it closed")
	}
	turn.Release()
	if err := turn.AcquireOpen(ctx); !errors.Is(err, processor.ErrClosed) {
		t.Fatalf("AcquireOpen after close: %v, want processor.ErrClosed", err)
	}
	if ok, err := turn.AcquireProduce(ctx, 0); ok || !errors.Is(err, processor.ErrClosed) {
		t.Fatalf("AcquireProduce after close = %v, %v; want processor.ErrClosed", ok, err)
	}
	if err := turn.Acquire(ctx); err != nil { // the closed AcquireOpen gave the turn back
		t.Fatal(err)
	}
	if !turn.MarkClosed() {
		t.Fatal("MarkClosed of a closed client reported it open")
	}
	turn.Release()
}

func TestCommitError(t *testing.T) {
	cause := errors.New("illegal generation")
	err := CommitError("x: commit", cause, true)
	if !errors.Is(err, processor.ErrNotOwner) || !errors.Is(err, cause) || !strings.HasPrefix(err.Error(), "x: commit: ") {
		t.Fatalf("CommitError(notOwner) = %v", err)
	}
	err = CommitError("x: commit", cause, false)
	if errors.Is(err, processor.ErrNotOwner) || !errors.Is(err, cause) || err.Error() != "x: commit: illegal generation" {
		t.Fatalf("CommitError = %v", err)
	}
}
