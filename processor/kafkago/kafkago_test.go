package kafkago_test

import (
	"testing"

	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/kafkago"
	"github.com/leadscore/leadscore/processor/kafkatest"
)

// testConfig is a member with the suite's short group timeouts.
func testConfig(brokers []string, group string, topics []string) kafkago.Config {
	return kafkago.Config{Config: kafkatest.GroupConfig(brokers, group, topics)}
}

func newClient(t *testing.T, cfg kafkago.Config) *kafkago.Client {
	return kafkatest.Start(t, kafkago.New, cfg)
}

func TestConformance(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, brokers []string, group string, topics []string) processor.Client {
		return newClient(t, testConfig(brokers, group, topics))
	}, kafkatest.SoleOwner(func(t *testing.T, brokers []string, group string, topics []string) processor.Client {
		cfg := testConfig(brokers, group, topics)
		cfg.SoleOwner = true
		return newClient(t, cfg)
	}), kafkatest.ReportsLag())
}

func TestSecurity(t *testing.T) {
	kafkatest.RunSecurity(t, func(t *testing.T, brokers []string, group string, topics []string, sec kafkatest.Security) processor.Client {
		cfg := testConfig(brokers, group, topics)
		sec.Apply(&cfg.Config)
		return newClient(t, cfg)
	})
}
