package clients

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A kgo client on franz-go's defaults (idempotent writes included: they start
// with InitProducerId).
func franzClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(bootstrap(t))}
	client, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(client.Close)
	return client
}

// kgo producer with every compression, a kgo group consumer that commits,
// and kadm: topics, end offsets, groups, committed offsets, deletion.
func TestFranzGoProduceGroupConsumeAdmin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	defer cancel()
	topic := uniqueName("franz")
	group := uniqueName("franz-g")
	admin := kadm.NewClient(franzClient(t))

	created, err := admin.CreateTopic(ctx, 3, 1, nil, topic)
	if err != nil || created.Err != nil {
		t.Fatalf("create topic: %v %v", err, created.Err)
	}

	codecs := []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()}
	const perCodec = 200
	count := 0
	offsets := map[int32][]int64{}
	for _, codec := range codecs {
		producer := franzClient(t, kgo.ProducerBatchCompression(codec), kgo.RequiredAcks(kgo.AllISRAcks()))
		var records []*kgo.Record
		for i := count; i < count+perCodec; i++ {
			records = append(records, &kgo.Record{Topic: topic, Key: []byte(keyOf(i)), Value: []byte(valueOf(i)),
				Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(itoa(i))}}})
		}
		results := producer.ProduceSync(ctx, records...)
		if err := results.FirstErr(); err != nil {
			t.Fatalf("produce with %v: %v", codec, err)
		}
		for _, r := range results {
			offsets[r.Record.Partition] = append(offsets[r.Record.Partition], r.Record.Offset)
		}
		count += perCodec
	}
	// Each partition's offsets are 0..n-1, each assigned once.
	for p, got := range offsets {
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		for i, o := range got {
			if o != int64(i) {
				t.Fatalf("partition %d: offsets %v are not 0..%d", p, got, len(got)-1)
			}
		}
	}

	ends, err := admin.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %d: %v", o.Partition, o.Err)
		}
		if o.Offset != int64(len(offsets[o.Partition])) {
			t.Fatalf("partition %d ends at %d, %d were produced", o.Partition, o.Offset, len(offsets[o.Partition]))
		}
		total += o.Offset
	})
	if total != int64(count) {
		t.Fatalf("end offsets add up to %d, produced %d", total, count)
	}

	consumer := franzClient(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	seen := map[string]string{}
	for len(seen) < count {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(seen), count, err)
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if _, twice := seen[string(r.Key)]; twice {
				t.Fatalf("record %s consumed twice", r.Key)
			}
			if len(r.Headers) != 1 || r.Headers[0].Key != "i" || "key-"+string(r.Headers[0].Value) != string(r.Key) {
				t.Fatalf("record %s has headers %+v", r.Key, r.Headers)
			}
			seen[string(r.Key)] = string(r.Value)
		})
	}
	for i := 0; i < count; i++ {
		if seen[keyOf(i)] != valueOf(i) {
			t.Fatalf("record %d: got %q", i, seen[keyOf(i)])
		}
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}

	described, err := admin.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describe group: %v", err)
	}
	if g := described[group]; g.State != "Stable" || len(g.Members) != 1 {
		t.Fatalf("group %s: state %q with %d members", group, g.State, len(g.Members))
	}
	committed, err := admin.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	for p, n := range offsets {
		o, ok := committed.Lookup(topic, p)
		if !ok || o.At != int64(len(n)) {
			t.Fatalf("partition %d committed %+v, want %d", p, o, len(n))
		}
	}

	consumer.Close()
	deleted, err := admin.DeleteGroup(ctx, group)
	if err != nil || deleted.Err != nil {
		t.Fatalf("delete group: %v %v", err, deleted.Err)
	}
	listed, err := admin.ListGroups(ctx)
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	if _, still := listed[group]; still {
		t.Fatalf("group %s listed after deletion", group)
	}
	deadline := time.Now().Add(wait)
	for {
		resp, err := admin.DeleteTopics(ctx, topic)
		if err == nil && resp[topic].Err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delete topic: %v %v", err, resp)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
