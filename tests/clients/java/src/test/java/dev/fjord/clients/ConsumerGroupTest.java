package dev.fjord.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class ConsumerGroupTest {
    private static final long BASE_TIME = 1_700_000_000_000L;

    /**
     * A classic-protocol group consumer: the rebalance listener sees both
     * partitions assigned, every record arrives once in partition order,
     * commitSync/commitAsync store exactly the positions, offsetsForTimes
     * finds the records by their timestamps, seek rewinds, a paused partition
     * gives nothing until resumed, and a new member of the group starts from
     * the committed offsets.
     */
    @Test
    void groupConsumerCommitsSeeksPausesAndResumes() throws Exception {
        String topic = Fjord.uniqueName("group");
        String group = Fjord.uniqueName("g");
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        try (Admin admin = Fjord.admin()) {
            Fjord.createTopic(admin, topic, 2, Map.of());
            produce(topic, 0, 0, 100);
            produce(topic, 1, 0, 100);

            List<Collection<TopicPartition>> assigned = new CopyOnWriteArrayList<>();
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Fjord.consumerProps(group))) {
                consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {}

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                        assigned.add(List.copyOf(partitions));
                    }
                });
                List<ConsumerRecord<String, String>> records = Fjord.pollUntil(consumer, 200);
                assertEquals(Set.of(p0, p1), Set.copyOf(assigned.get(0)));
                assertEquals(200, records.size());
                for (int partition = 0; partition < 2; partition++) {
                    int p = partition;
                    List<ConsumerRecord<String, String>> of = records.stream()
                            .filter(r -> r.partition() == p).collect(Collectors.toList());
                    for (int i = 0; i < 100; i++) {
                        assertEquals(i, of.get(i).offset());
                        assertEquals("value-" + p + "-" + i, of.get(i).value());
                        assertEquals(BASE_TIME + i, of.get(i).timestamp());
                    }
                }

                consumer.commitSync();
                Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(Set.of(p0, p1));
                assertEquals(100, committed.get(p0).offset());
                assertEquals(100, committed.get(p1).offset());

                // The member as an admin sees it, while the group is stable.
                ConsumerGroupDescription description = admin.describeConsumerGroups(List.of(group))
                        .describedGroups().get(group).get();
                assertEquals(GroupState.STABLE, description.groupState());
                assertEquals(1, description.members().size());
                MemberDescription member = description.members().iterator().next();
                assertEquals(Set.of(p0, p1), member.assignment().topicPartitions());

                Map<TopicPartition, OffsetAndTimestamp> byTime =
                        consumer.offsetsForTimes(Map.of(p0, BASE_TIME + 50, p1, BASE_TIME + 1000));
                assertEquals(50, byTime.get(p0).offset());
                assertEquals(BASE_TIME + 50, byTime.get(p0).timestamp());
                assertNull(byTime.get(p1), "no record at or after that time");

                consumer.pause(Set.of(p1));
                consumer.seek(p0, 90);
                produce(topic, 1, 100, 5);
                List<ConsumerRecord<String, String>> rewound = Fjord.pollUntil(consumer, 10);
                assertEquals(List.of(90L, 91L, 92L, 93L, 94L, 95L, 96L, 97L, 98L, 99L),
                        rewound.stream().map(ConsumerRecord::offset).collect(Collectors.toList()));
                assertTrue(rewound.stream().allMatch(r -> r.partition() == 0), "paused p1 gave records");
                assertTrue(consumer.poll(Duration.ofMillis(500)).isEmpty(), "p1 is paused");

                consumer.resume(Set.of(p1));
                List<ConsumerRecord<String, String>> resumed = Fjord.pollUntil(consumer, 5);
                assertEquals(List.of(100L, 101L, 102L, 103L, 104L),
                        resumed.stream().map(ConsumerRecord::offset).collect(Collectors.toList()));
                assertTrue(resumed.stream().allMatch(r -> r.partition() == 1));

                CompletableFuture<Map<TopicPartition, OffsetAndMetadata>> async = new CompletableFuture<>();
                consumer.commitAsync((offsets, error) -> {
                    if (error != null) {
                        async.completeExceptionally(error);
                    } else {
                        async.complete(offsets);
                    }
                });
                while (!async.isDone()) {
                    consumer.poll(Duration.ofMillis(50));
                }
                Map<TopicPartition, OffsetAndMetadata> asyncCommitted = async.get(1, TimeUnit.SECONDS);
                assertEquals(100, asyncCommitted.get(p0).offset());
                assertEquals(105, asyncCommitted.get(p1).offset());
            }

            // A new member starts where the group committed.
            produce(topic, 0, 100, 3);
            try (KafkaConsumer<String, String> next = new KafkaConsumer<>(Fjord.consumerProps(group))) {
                next.subscribe(List.of(topic));
                List<ConsumerRecord<String, String>> rest = Fjord.pollUntil(next, 3);
                assertEquals(List.of("value-0-100", "value-0-101", "value-0-102"),
                        rest.stream().map(ConsumerRecord::value).collect(Collectors.toList()));
                assertTrue(next.poll(Duration.ofMillis(500)).isEmpty(), "nothing before the commit again");
            }
        }
    }

    private static void produce(String topic, int partition, int from, int count) throws Exception {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Fjord.producerProps())) {
            List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
            for (int i = from; i < from + count; i++) {
                sent.add(producer.send(new ProducerRecord<>(topic, partition, BASE_TIME + i, "k" + i,
                        "value-" + partition + "-" + i)));
            }
            for (java.util.concurrent.Future<?> f : sent) {
                f.get();
            }
        }
    }
}
