package kafkatest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
)

// GroupConfig is the part of a backend's test configuration that both backends
// share: a member of group consuming topics from brokers, with group timeouts
// short enough that rebalances finish quickly (see the package comment).
func GroupConfig(brokers []string, group string, topics []string) kafkaconfig.Config {
	return kafkaconfig.Config{
		Brokers:           brokers,
		Group:             group,
		InputTopics:       topics,
		SessionTimeout:    3 * time.Second,
		RebalanceTimeout:  3 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		FetchMaxWait:      100 * time.Millisecond,
		MaxPollRecords:    7, // small batches, so tests see several
	}
}

// Start builds a client with a backend's constructor (franzgo.New,
// kafkago.New), failing the test when that fails. Construction may talk to the
// cluster, so it is bounded.
func Start[C any, Cl processor.Client](t testing.TB, newClient func(context.Context, C) (Cl, error), cfg C) Cl {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := newClient(ctx, cfg)
	if err != nil {
		t.Fatalf("new client from %T: %v", cfg, err)
	}
	return cl
}

// ValidateCase is one backend-specific case of RunValidate: Mod changes a valid
// Config, WantErr is a part of the error Validate must then return ("" when
// the changed Config is valid).
type ValidateCase[C any] struct {
	Name    string
	Mod     func(*C)
	WantErr string
}

// RunValidate checks a backend's Config validation: the problems of the
// settings both backends share (kafkaconfig.Config, which shared reaches inside
// the backend's Config), then the backend's own cases. Each case starts from a
// Config whose shared part is minimal and valid and whose own part is zero.
func RunValidate[C any](t *testing.T, shared func(*C) *kafkaconfig.Config, validate func(*C) error, own ...ValidateCase[C]) {
	sharedCase := func(name string, mod func(*kafkaconfig.Config), wantErr string) ValidateCase[C] {
		return ValidateCase[C]{name, func(c *C) { mod(shared(c)) }, wantErr}
	}
	tests := []ValidateCase[C]{
		sharedCase("minimal", func(*kafkaconfig.Config) {}, ""),
		sharedCase("no brokers", func(c *kafkaconfig.Config) { c.Brokers = nil }, "brokers"),
		sharedCase("no group", func(c *kafkaconfig.Config) { c.Group = "" }, "group"),
		sharedCase("no topics", func(c *kafkaconfig.Config) { c.InputTopics = nil }, "input topics"),
		sharedCase("start offset", func(c *kafkaconfig.Config) { c.StartOffset = "middle" }, "start offset"),
		sharedCase("compression", func(c *kafkaconfig.Config) { c.Compression = "brotli" }, "compression"),
		sharedCase("sasl mechanism", func(c *kafkaconfig.Config) { c.SASL = &kafkaconfig.SASLConfig{Mechanism: "GSSAPI"} }, "sasl mechanism"),
		sharedCase("heartbeat too slow", func(c *kafkaconfig.Config) { c.HeartbeatInterval, c.SessionTimeout = 10*time.Second, 6*time.Second }, "heartbeat interval"),
	}
	for _, tt := range append(tests, own...) {
		t.Run(tt.Name, func(t *testing.T) {
			var cfg C
			*shared(&cfg) = kafkaconfig.Config{Brokers: []string{"localhost:9092"}, Group: "g", InputTopics: []string{"in"}}
			tt.Mod(&cfg)
			err := validate(&cfg)
			switch {
			case tt.WantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.WantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.WantErr)):
				t.Fatalf("Validate: got %v, want an error containing %q", err, tt.WantErr)
			}
		})
	}
}
