package kafkago

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/leadscore/leadscore/processor/kafkaconfig"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// DefaultDialTimeout is the DialTimeout of a Config that leaves it zero.
const DefaultDialTimeout = 10 * time.Second

// Config configures a kafka-go Client: the settings both backends share
// (kafkaconfig.Config, embedded; zero fields take its defaults) and kafka-go's
// own. Validate is called by New. Exactly-once has no setting here: this
// backend is at-least-once only.
type Config struct {
	kafkaconfig.Config

	// DialTimeout bounds connection set-up (TCP, TLS, SASL). Default 10 s.
	DialTimeout time.Duration
}

func (c *Config) setDefaults() {
	c.Config.SetDefaults()
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
}

// Validate reports every problem of the Config (after defaults) in one error.
func (c *Config) Validate() error {
	errs := []error{c.Config.Validate()}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("dial timeout: must be positive, got %v", c.DialTimeout))
	}
	if c.ProducerLinger < 0 {
		errs = append(errs, errors.New("producer linger: must not be negative"))
	}
	if c.SASL != nil {
		// The mechanism's name is checked above; a SCRAM user or password
		// that SASLprep refuses fails here.
		if _, err := c.SASL.MechanismName(); err == nil {
			if _, err := saslMechanism(*c.SASL); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafkago: invalid config: %w", err)
	}
	return nil
}

// saslMechanism returns kafka-go's mechanism for s.
func saslMechanism(s kafkaconfig.SASLConfig) (sasl.Mechanism, error) {
	name, err := s.MechanismName()
	if err != nil {
		return nil, err
	}
	if name == kafkaconfig.MechanismPlain {
		return plain.Mechanism{Username: s.User, Password: s.Password}, nil
	}
	algo := scram.SHA512
	if name == kafkaconfig.MechanismScramSHA256 {
		algo = scram.SHA256
	}
	m, err := scram.Mechanism(algo, s.User, s.Password)
	if err != nil {
		return nil, fmt.Errorf("sasl %s: %w", name, err)
	}
	return m, nil
}

// compression returns the codec of name, which Validate checked.
func compression(name string) kafka.Compression {
	switch strings.ToLower(name) {
	case "gzip":
		return kafka.Gzip
	case "snappy":
		return kafka.Snappy
	case "lz4":
		return kafka.Lz4
	case "zstd":
		return kafka.Zstd
	}
	return 0
}

// errorLogger adapts a *slog.Logger to kafka-go's Logger.
func errorLogger(l *slog.Logger, what string) kafka.Logger {
	if l == nil {
		return nil
	}
	return kafka.LoggerFunc(func(format string, args ...any) {
		l.Warn("kafka-go " + what + ": " + fmt.Sprintf(format, args...))
	})
}
