package franzgo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicSpec describes a topic for EnsureTopics.
type TopicSpec struct {
	Name string
	// Partitions and Replication of -1 (or 0) take the broker defaults.
	Partitions  int32
	Replication int16
	// Configs are topic configs, e.g. "retention.bytes"; a nil value takes the
	// broker default.
	Configs map[string]*string
}

// EnsureTopics creates the topics of specs that do not exist yet. Existing topics
// are left as they are: their partition count and configs are not compared or
// changed. A topic created concurrently by someone else counts as existing.
// brokers are the seed brokers; opts add connection options (TLS, SASL: see
// Config.ConnOpts). ctx bounds every request. The error names each topic that
// could not be created, with the broker's reason.
func EnsureTopics(ctx context.Context, brokers []string, specs []TopicSpec, opts ...kgo.Opt) error {
	if len(specs) == 0 {
		return nil
	}
	adm, done, err := newAdmin(brokers, opts)
	if err != nil {
		return err
	}
	defer done()

	names := make([]string, len(specs))
	for i, s := range specs {
		if s.Name == "" {
			return errors.New("franzgo: ensure topics: a topic spec has no name")
		}
		names[i] = s.Name
	}
	missing, err := missingTopics(ctx, adm, names)
	if err != nil {
		return fmt.Errorf("franzgo: ensure topics: %w", err)
	}
	var errs []error
	for _, s := range specs {
		if !slices.Contains(missing, s.Name) {
			continue
		}
		p, r := s.Partitions, s.Replication
		if p == 0 {
			p = -1
		}
		if r == 0 {
			r = -1
		}
		resp, err := adm.CreateTopic(ctx, p, r, s.Configs, s.Name)
		switch {
		case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
		case resp.ErrMessage != "":
			errs = append(errs, fmt.Errorf("create topic %s: %w: %s", s.Name, err, resp.ErrMessage))
		default:
			errs = append(errs, fmt.Errorf("create topic %s: %w", s.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("franzgo: ensure topics: %w", err)
	}
	return nil
}

// ErrMissingTopics is wrapped by CheckTopics' error when topics do not exist.
var ErrMissingTopics = errors.New("missing topics")

// CheckTopics returns nil when every named topic exists, and otherwise an error
// wrapping ErrMissingTopics that names the missing ones (or the broker's error,
// e.g. an authorization failure). brokers and opts are as for EnsureTopics.
func CheckTopics(ctx context.Context, brokers []string, names []string, opts ...kgo.Opt) error {
	if len(names) == 0 {
		return nil
	}
	adm, done, err := newAdmin(brokers, opts)
	if err != nil {
		return err
	}
	defer done()
	missing, err := missingTopics(ctx, adm, names)
	if err != nil {
		return fmt.Errorf("franzgo: check topics: %w", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("franzgo: check topics: %w: %s", ErrMissingTopics, strings.Join(missing, ", "))
	}
	return nil
}

func newAdmin(brokers []string, opts []kgo.Opt) (*kadm.Client, func(), error) {
	if len(brokers) == 0 {
		return nil, nil, errors.New("franzgo: admin: no brokers")
	}
	all := append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, nil, fmt.Errorf("franzgo: admin client: %w", err)
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// missingTopics returns the sorted names that do not exist; other per-topic
// errors (authorization) are returned as an error.
func missingTopics(ctx context.Context, adm *kadm.Client, names []string) ([]string, error) {
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var missing []string
	var errs []error
	for _, n := range names {
		d, ok := details[n]
		switch {
		case !ok, errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			missing = append(missing, n)
		case d.Err != nil:
			errs = append(errs, fmt.Errorf("topic %s: %w", n, d.Err))
		}
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	return missing, errors.Join(errs...)
}

// TopicIDs returns the id Kafka gave each named topic when it was created, as
// text. A topic deleted and created again has a new id: the processor keys
// its replay detection by it (state.TopicEpochs), so that a recreated topic's
// events, whose offsets start again at 0, are not taken for replays.
func TopicIDs(ctx context.Context, brokers []string, names []string, opts ...kgo.Opt) (map[string]string, error) {
	adm, done, err := newAdmin(brokers, opts)
	if err != nil {
		return nil, err
	}
	defer done()
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("franzgo: topic ids: list topics: %w", err)
	}
	out := make(map[string]string, len(names))
	var errs []error
	for _, n := range names {
		d, ok := details[n]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %s: %w", n, ErrMissingTopics))
		case d.Err != nil:
			errs = append(errs, fmt.Errorf("topic %s: %w", n, d.Err))
		case d.ID == (kadm.TopicID{}):
			errs = append(errs, fmt.Errorf("topic %s: the broker reports no topic id (Kafka 2.8 or later is needed)", n))
		default:
			out[n] = d.ID.String()
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("franzgo: topic ids: %w", errors.Join(errs...))
	}
	return out, nil
}
