package kafkago_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/processor/kafkatest"
)

// TestAuthFailureIsExplained: with a wrong SASL password, Ready says that
// authentication failed, with the mechanism and the user, never the password.
func TestAuthFailureIsExplained(t *testing.T) {
	const wrong = "wrong-secret-42"
	c := kafkatest.NewCluster(t, nil, kfake.EnableSASL(), kfake.SeedTopics(1, "in"), kfake.Superuser("SCRAM-SHA-512", "scorer", "right-secret-17"))
	cfg := testConfig(c.ListenAddrs(), "g", []string{"in"})
	cfg.SASL = &kafkaconfig.SASLConfig{Mechanism: "scram-sha-512", User: "scorer", Password: wrong}
	cl := newClient(t, cfg)
	defer cl.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := cl.Ready(ctx)
	if err == nil {
		t.Fatal("Ready succeeded with a wrong password")
	}
	msg := err.Error()
	if !strings.Contains(msg, `SASL SCRAM-SHA-512 authentication as user "scorer" failed`) || strings.Contains(msg, wrong) {
		t.Errorf("Ready: %q, want the mechanism and the user, never the password", msg)
	}
}
