package dev.fjord.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StreamsWordCountTest {
    /**
     * Kafka Streams word count: a groupBy through an internal repartition
     * topic (created, purged with DeleteRecords and read back by Streams) into
     * a counting state store. The last count per word on the output topic is
     * exactly the word's number of occurrences. The store's changelog is off
     * (it would be a compacted topic, refused until compaction exists); it
     * joins this test when compaction lands.
     */
    @Test
    void wordCountThroughARepartitionTopicIsExact(@TempDir Path stateDir) throws Exception {
        String input = Fjord.uniqueName("words-in");
        String output = Fjord.uniqueName("words-out");
        String application = Fjord.uniqueName("wordcount");
        try (Admin admin = Fjord.admin()) {
            Fjord.createTopic(admin, input, 2, Map.of());
            Fjord.createTopic(admin, output, 2, Map.of());
        }
        List<String> lines = List.of(
                "the quick brown fox", "jumps over the lazy dog", "The Dog barks",
                "a fox and a dog", "quick quick quick");
        Map<String, Long> expected = new TreeMap<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Fjord.producerProps())) {
            for (int round = 0; round < 20; round++) {
                for (String line : lines) {
                    producer.send(new ProducerRecord<>(input, null, line)).get();
                    for (String word : line.toLowerCase(Locale.ROOT).split(" ")) {
                        expected.merge(word, 1L, Long::sum);
                    }
                }
            }
        }

        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(line -> Arrays.asList(line.toLowerCase(Locale.ROOT).split(" ")))
                .groupBy((key, word) -> word, Grouped.with(Serdes.String(), Serdes.String()))
                .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("counts")
                        .withKeySerde(Serdes.String())
                        .withValueSerde(Serdes.Long())
                        .withLoggingDisabled())
                .toStream()
                .to(output, Produced.with(Serdes.String(), Serdes.Long()));

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, application);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, Fjord.bootstrap());
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "100");
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, "1");
        props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");

        Map<String, Long> latest = new HashMap<>();
        try (KafkaStreams streams = new KafkaStreams(builder.build(), props)) {
            streams.start();
            Properties consumerProps = Fjord.consumerProps(null);
            consumerProps.put("value.deserializer", LongDeserializer.class.getName());
            consumerProps.put("group.id", application + "-reader");
            try (KafkaConsumer<String, Long> consumer = new KafkaConsumer<>(consumerProps)) {
                consumer.subscribe(List.of(output));
                long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
                while (!latest.equals(expected)) {
                    if (System.nanoTime() > deadline || streams.state() == KafkaStreams.State.ERROR) {
                        throw new AssertionError("counts: " + new TreeMap<>(latest)
                                + ", expected " + expected + "; streams state " + streams.state());
                    }
                    for (ConsumerRecord<String, Long> record : consumer.poll(Duration.ofMillis(200))) {
                        latest.put(record.key(), record.value());
                    }
                }
            }
            streams.close(Duration.ofSeconds(30));
        }
        assertEquals(expected, new TreeMap<>(latest));
    }
}
