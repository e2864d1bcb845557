package clients

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func saramaConfig() *sarama.Config {
	config := sarama.NewConfig()
	config.Version = sarama.V3_6_0_0
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Producer.Return.Successes = true
	config.Producer.Partitioner = sarama.NewManualPartitioner
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	config.Consumer.Offsets.AutoCommit.Enable = false
	return config
}

// Sarama: a sync producer (exact offsets), an async producer with every
// compression, and a consumer group that reads everything and commits;
// a second group session starts from the commit.
func TestSaramaProducersAndConsumerGroup(t *testing.T) {
	b := bootstrap(t)
	topic := uniqueName("sarama")
	group := uniqueName("sarama-g")
	config := saramaConfig()
	admin, err := sarama.NewClusterAdmin([]string{b}, config)
	if err != nil {
		t.Fatalf("cluster admin: %v", err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create topic: %v", err)
	}

	sync, err := sarama.NewSyncProducer([]string{b}, config)
	if err != nil {
		t.Fatalf("sync producer: %v", err)
	}
	for i := 0; i < 100; i++ {
		p, offset, err := sync.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0,
			Key: sarama.StringEncoder(keyOf(i)), Value: sarama.StringEncoder(valueOf(i))})
		if err != nil || p != 0 || offset != int64(i) {
			t.Fatalf("message %d: partition %d offset %d err %v", i, p, offset, err)
		}
	}
	sync.Close()

	codecs := []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy, sarama.CompressionLZ4, sarama.CompressionZSTD}
	next := 100
	for _, codec := range codecs {
		asyncConfig := saramaConfig()
		asyncConfig.Producer.Compression = codec
		async, err := sarama.NewAsyncProducer([]string{b}, asyncConfig)
		if err != nil {
			t.Fatalf("async producer: %v", err)
		}
		for i := next; i < next+50; i++ {
			async.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: 1,
				Key: sarama.StringEncoder(keyOf(i)), Value: sarama.StringEncoder(valueOf(i)), Metadata: i}
		}
		for i := 0; i < 50; i++ {
			select {
			case m := <-async.Successes():
				if want := int64(m.Metadata.(int) - 100); m.Offset != want {
					t.Fatalf("%v: message %d at offset %d, want %d", codec, m.Metadata, m.Offset, want)
				}
			case e := <-async.Errors():
				t.Fatalf("%v: %v", codec, e.Err)
			case <-time.After(wait):
				t.Fatalf("%v: no acknowledgement within %v", codec, wait)
			}
		}
		async.Close()
		next += 50
	}

	got := consumeGroup(t, b, group, topic, next)
	for i := 0; i < next; i++ {
		if got[keyOf(i)] != valueOf(i) {
			t.Fatalf("record %d: got %q", i, got[keyOf(i)])
		}
	}

	// The commit holds: a new session of the group gets only what is new.
	sync, err = sarama.NewSyncProducer([]string{b}, config)
	if err != nil {
		t.Fatalf("sync producer: %v", err)
	}
	if _, _, err := sync.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0,
		Key: sarama.StringEncoder(keyOf(next)), Value: sarama.StringEncoder(valueOf(next))}); err != nil {
		t.Fatalf("send: %v", err)
	}
	sync.Close()
	rest := consumeGroup(t, b, group, topic, 1)
	if len(rest) != 1 || rest[keyOf(next)] != valueOf(next) {
		t.Fatalf("after the commit the group read %v", rest)
	}

	offsets, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1}})
	if err != nil {
		t.Fatalf("list group offsets: %v", err)
	}
	if o := offsets.GetBlock(topic, 0); o == nil || o.Offset != 101 {
		t.Fatalf("partition 0 committed %+v, want 101", o)
	}
	if o := offsets.GetBlock(topic, 1); o == nil || o.Offset != int64(next-100) {
		t.Fatalf("partition 1 committed %+v, want %d", o, next-100)
	}
}

// consumeGroup runs one session of the group until `count` records arrived,
// commits what it read, and returns key → value.
func consumeGroup(t *testing.T, b, group, topic string, count int) map[string]string {
	t.Helper()
	consumer, err := sarama.NewConsumerGroup([]string{b}, group, saramaConfig())
	if err != nil {
		t.Fatalf("consumer group: %v", err)
	}
	defer consumer.Close()
	handler := &collector{want: count, got: map[string]string{}, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if err := consumer.Consume(ctx, []string{topic}, handler); err != nil && ctx.Err() == nil {
				t.Errorf("consume: %v", err)
				return
			}
		}
	}()
	select {
	case <-handler.done:
	case <-ctx.Done():
		t.Fatalf("read %d of %d records", handler.count(), count)
	}
	cancel()
	return handler.snapshot()
}

type collector struct {
	mu   sync.Mutex
	want int
	got  map[string]string
	done chan struct{}
	once sync.Once
}

func (c *collector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (c *collector) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (c *collector) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		c.mu.Lock()
		c.got[string(m.Key)] = string(m.Value)
		n := len(c.got)
		c.mu.Unlock()
		session.MarkMessage(m, "")
		if n >= c.want {
			session.Commit()
			c.once.Do(func() { close(c.done) })
		}
	}
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func (c *collector) snapshot() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.got))
	for k, v := range c.got {
		out[k] = v
	}
	return out
}
