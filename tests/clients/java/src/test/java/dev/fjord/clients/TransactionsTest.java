package dev.fjord.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * The Java client's transactional producer on its defaults: commit and abort
 * as read_committed and read_uncommitted consumers see them, at exact offsets
 * (each commit or abort marker takes one offset). Kafka 4.1 finalizes
 * transaction.version 2, so the 4.x client runs KIP-890's transactions (an
 * epoch bump at every EndTxn) against it; the test prints what the client
 * negotiated.
 */
class TransactionsTest {
    @Test
    void commitAndAbortOnDefaultSettings() throws Exception {
        String topic = Fjord.uniqueName("txn");
        try (Admin admin = Fjord.admin()) {
            Fjord.createTopic(admin, topic, 1, Map.of());
            FinalizedVersionRange tv = admin.describeFeatures().featureMetadata().get()
                    .finalizedFeatures().get("transaction.version");
            System.out.println("broker finalizes transaction.version " + (tv == null ? "(none)" : tv));
        }
        Properties props = Fjord.producerProps();
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, Fjord.uniqueName("txn-id"));
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            producer.initTransactions();
            producer.beginTransaction();
            send(producer, topic, "first", 3);              // 0..2
            producer.commitTransaction();                   // marker at 3
            System.out.println("the client negotiated transaction version 2: " + transactionV2(producer));
            producer.beginTransaction();
            send(producer, topic, "aborted", 2);            // 4..5
            producer.abortTransaction();                    // marker at 6
            producer.beginTransaction();
            send(producer, topic, "second", 2);             // 7..8
            producer.commitTransaction();                   // marker at 9
        }
        assertEquals(List.of("0:first-0", "1:first-1", "2:first-2", "7:second-0", "8:second-1"),
                read(topic, "read_committed", 5));
        assertEquals(List.of("0:first-0", "1:first-1", "2:first-2", "4:aborted-0", "5:aborted-1",
                "7:second-0", "8:second-1"), read(topic, "read_uncommitted", 7));
    }

    private static void send(KafkaProducer<String, String> producer, String topic, String tag, int n)
            throws Exception {
        for (int i = 0; i < n; i++) {
            producer.send(new ProducerRecord<>(topic, 0, "k", tag + "-" + i)).get();
        }
    }

    /** "offset:value" of what a consumer at `isolation` reads from the start, waiting a second past `count`. */
    private static List<String> read(String topic, String isolation, int count) {
        Properties props = Fjord.consumerProps(null);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> partition = List.of(new TopicPartition(topic, 0));
            consumer.assign(partition);
            consumer.seekToBeginning(partition);
            List<ConsumerRecord<String, String>> records = new ArrayList<>(Fjord.pollUntil(consumer, count));
            consumer.poll(java.time.Duration.ofSeconds(1)).forEach(records::add);
            List<String> out = new ArrayList<>();
            for (ConsumerRecord<String, String> record : records) {
                out.add(record.offset() + ":" + record.value());
            }
            return out;
        }
    }

    /** The producer's own view (an internal of the client, read for the record only). */
    private static String transactionV2(KafkaProducer<?, ?> producer) {
        try {
            var field = KafkaProducer.class.getDeclaredField("transactionManager");
            field.setAccessible(true);
            Object manager = field.get(producer);
            return String.valueOf(manager.getClass().getMethod("isTransactionV2Enabled").invoke(manager));
        } catch (ReflectiveOperationException e) {
            return "unknown (" + e + ")";
        }
    }
}
