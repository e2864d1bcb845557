package dev.fjord.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.Test;

class AdminTest {
    /** Topics: create, describe, add partitions, offsets, delete records, configs, delete. */
    @Test
    void topicLifecycleOffsetsAndConfigs() throws Exception {
        String topic = Fjord.uniqueName("admin");
        try (Admin admin = Fjord.admin()) {
            Fjord.createTopic(admin, topic, 3, Map.of("retention.ms", "3600000"));
            ExecutionException twice = assertThrows(ExecutionException.class,
                    () -> Fjord.createTopic(admin, topic, 1, Map.of()));
            assertInstanceOf(TopicExistsException.class, twice.getCause());

            DescribeClusterResult cluster = admin.describeCluster();
            Collection<Node> nodes = cluster.nodes().get();
            assertEquals(1, nodes.size());
            Node node = nodes.iterator().next();
            assertEquals(Fjord.bootstrap(), node.host() + ":" + node.port());
            assertFalse(cluster.clusterId().get().isEmpty());

            TopicDescription described = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            assertEquals(3, described.partitions().size());
            assertFalse(described.isInternal());
            described.partitions().forEach(p -> {
                assertEquals(node.id(), p.leader().id());
                assertEquals(List.of(node.id()), p.replicas().stream().map(Node::id).collect(Collectors.toList()));
            });

            admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get();
            // Kafka answers CreatePartitions once its controller has the change; the
            // broker's metadata cache may list the old count for a moment after.
            int count = 0;
            for (long end = System.nanoTime() + Fjord.WAIT.toNanos(); count != 5 && System.nanoTime() < end; ) {
                count = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
                if (count != 5) Thread.sleep(50);
            }
            assertEquals(5, count);

            TopicPartition p0 = new TopicPartition(topic, 0);
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(Fjord.producerProps())) {
                for (int i = 0; i < 20; i++) {
                    producer.send(new ProducerRecord<>(topic, 0, "k" + i, "v" + i)).get();
                }
            }
            assertEquals(0, offset(admin, p0, OffsetSpec.earliest()));
            assertEquals(20, offset(admin, p0, OffsetSpec.latest()));
            assertEquals(0, offset(admin, new TopicPartition(topic, 4), OffsetSpec.latest()));

            long low = admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(5)))
                    .lowWatermarks().get(p0).get().lowWatermark();
            assertEquals(5, low);
            assertEquals(5, offset(admin, p0, OffsetSpec.earliest()));
            assertEquals(20, offset(admin, p0, OffsetSpec.latest()));

            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
            ConfigEntry retention = config.get("retention.ms");
            assertEquals("3600000", retention.value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, retention.source());
            ConfigEntry cleanup = config.get("cleanup.policy");
            assertEquals("delete", cleanup.value());
            assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, cleanup.source());

            admin.deleteTopics(List.of(topic)).all().get();
            ExecutionException gone = assertThrows(ExecutionException.class,
                    () -> admin.describeTopics(List.of(topic)).allTopicNames().get());
            assertInstanceOf(UnknownTopicOrPartitionException.class, gone.getCause());
        }
    }

    /** Consumer groups as an operator sees them: list, describe, offsets, alter, delete. */
    @Test
    void consumerGroupOffsetsAlteredAndDeleted() throws Exception {
        String topic = Fjord.uniqueName("admin-groups");
        String group = Fjord.uniqueName("g");
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        try (Admin admin = Fjord.admin()) {
            Fjord.createTopic(admin, topic, 2, Map.of());
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Fjord.consumerProps(group))) {
                consumer.commitSync(Map.of(p0, new OffsetAndMetadata(7, "seven"), p1, new OffsetAndMetadata(0)));
            }

            Collection<GroupListing> groups = admin.listGroups(ListGroupsOptions.forConsumerGroups()).all().get();
            GroupListing listing = groups.stream().filter(g -> g.groupId().equals(group)).findFirst()
                    .orElseThrow(() -> new AssertionError(group + " not listed in " + groups));
            assertEquals(GroupState.EMPTY, listing.groupState().orElseThrow());

            ConsumerGroupDescription description = admin.describeConsumerGroups(List.of(group))
                    .describedGroups().get(group).get();
            assertEquals(GroupState.EMPTY, description.groupState());
            assertTrue(description.members().isEmpty());

            Map<TopicPartition, OffsetAndMetadata> offsets =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            assertEquals(7, offsets.get(p0).offset());
            assertEquals("seven", offsets.get(p0).metadata());
            assertEquals(0, offsets.get(p1).offset());

            admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(3))).all().get();
            offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            assertEquals(3, offsets.get(p0).offset());
            assertEquals(0, offsets.get(p1).offset());

            admin.deleteConsumerGroups(List.of(group)).all().get();
            Set<String> after = admin.listGroups(ListGroupsOptions.forConsumerGroups()).all().get().stream()
                    .map(GroupListing::groupId).collect(Collectors.toSet());
            assertFalse(after.contains(group), group + " still listed after deletion");
            assertTrue(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().isEmpty());
        }
    }

    private static long offset(Admin admin, TopicPartition partition, OffsetSpec spec) throws Exception {
        ListOffsetsResultInfo info = admin.listOffsets(Map.of(partition, spec)).partitionResult(partition).get();
        return info.offset();
    }
}
