package dev.fjord.clients;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ProducerTest {
    /**
     * Every compression type, with keys, values and headers: the callbacks
     * report offsets 0..n-1 in send order, and a consumer reads back exactly
     * what was sent.
     */
    @ParameterizedTest
    @ValueSource(strings = {"none", "gzip", "snappy", "lz4", "zstd"})
    void sendCallbacksGiveExactOffsetsAndRecordsReadBack(String compression) throws Exception {
        String topic = Fjord.uniqueName("produce-" + compression);
        try (Admin admin = Fjord.admin()) {
            Fjord.createTopic(admin, topic, 1, Map.of());
        }
        int count = 500;
        Properties props = Fjord.producerProps();
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        List<CompletableFuture<RecordMetadata>> acks = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < count; i++) {
                ProducerRecord<String, String> record = new ProducerRecord<>(topic, 0, "key-" + i, value(i));
                record.headers().add(new RecordHeader("index", Integer.toString(i).getBytes(StandardCharsets.UTF_8)));
                record.headers().add(new RecordHeader("empty", new byte[0]));
                CompletableFuture<RecordMetadata> ack = new CompletableFuture<>();
                producer.send(record, (metadata, error) -> {
                    if (error != null) {
                        ack.completeExceptionally(error);
                    } else {
                        ack.complete(metadata);
                    }
                });
                acks.add(ack);
            }
            producer.flush();
        }
        for (int i = 0; i < count; i++) {
            RecordMetadata metadata = acks.get(i).get();
            assertEquals(0, metadata.partition());
            assertEquals(i, metadata.offset(), "offset of record " + i);
        }
        List<ConsumerRecord<String, String>> read = Fjord.readFromStart(List.of(new TopicPartition(topic, 0)), count);
        assertEquals(count, read.size());
        for (int i = 0; i < count; i++) {
            ConsumerRecord<String, String> record = read.get(i);
            assertEquals(i, record.offset());
            assertEquals("key-" + i, record.key());
            assertEquals(value(i), record.value());
            Header[] headers = record.headers().toArray();
            assertEquals(2, headers.length);
            assertEquals("index", headers[0].key());
            assertArrayEquals(Integer.toString(i).getBytes(StandardCharsets.UTF_8), headers[0].value());
            assertEquals("empty", headers[1].key());
            assertArrayEquals(new byte[0], headers[1].value());
        }
    }

    private static String value(int i) {
        return "value-" + i + "-" + "x".repeat(i % 97);
    }
}
