package dev.fjord.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.junit.jupiter.api.Test;

/** DescribeClientQuotas and AlterClientQuotas through the Java AdminClient. */
class ClientQuotasTest {
    private static ClientQuotaEntity entity(String... typeAndName) {
        Map<String, String> entries = new HashMap<>();
        for (int i = 0; i < typeAndName.length; i += 2) {
            entries.put(typeAndName[i], typeAndName[i + 1]);
        }
        return new ClientQuotaEntity(entries);
    }

    private static ClientQuotaAlteration set(ClientQuotaEntity entity, String key, Double value) {
        return new ClientQuotaAlteration(entity, List.of(new ClientQuotaAlteration.Op(key, value)));
    }

    private static Map<ClientQuotaEntity, Map<String, Double>> describe(Admin admin, ClientQuotaFilter filter)
            throws Exception {
        return admin.describeClientQuotas(filter).entities().get();
    }

    /**
     * What the filter finds once it equals {@code expected} (Kafka's brokers
     * learn of a change from the controller a moment after answering it),
     * else what it last found.
     */
    private static Map<ClientQuotaEntity, Map<String, Double>> describeUntil(Admin admin, ClientQuotaFilter filter,
            Map<ClientQuotaEntity, Map<String, Double>> expected) throws Exception {
        long deadline = System.nanoTime() + Fjord.WAIT.toNanos();
        Map<ClientQuotaEntity, Map<String, Double>> found = describe(admin, filter);
        while (!found.equals(expected) && System.nanoTime() < deadline) {
            Thread.sleep(100);
            found = describe(admin, filter);
        }
        return found;
    }

    private static Throwable refused(Admin admin, ClientQuotaAlteration alteration) {
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> admin.alterClientQuotas(List.of(alteration)).all().get());
        return e.getCause();
    }

    @Test
    void alterDescribeValidateAndRemove() throws Exception {
        String user = Fjord.uniqueName("quota-user");
        ClientQuotaEntity userEntity = entity(ClientQuotaEntity.USER, user);
        ClientQuotaEntity userDefaultClient = entity(ClientQuotaEntity.USER, user, ClientQuotaEntity.CLIENT_ID, null);
        ClientQuotaEntity ip = entity(ClientQuotaEntity.IP, "10.1.2.3");
        try (Admin admin = Fjord.admin()) {
            // validateOnly stores nothing.
            admin.alterClientQuotas(List.of(set(userEntity, "producer_byte_rate", 1024.0)),
                    new AlterClientQuotasOptions().validateOnly(true)).all().get();
            ClientQuotaFilter exactUser = ClientQuotaFilter.contains(
                    List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user)));
            assertEquals(Map.of(), describe(admin, exactUser));

            admin.alterClientQuotas(List.of(
                    set(userEntity, "producer_byte_rate", 1048576.0),
                    set(userDefaultClient, "request_percentage", 12.5),
                    set(ip, "connection_creation_rate", 50.0))).all().get();
            Map<ClientQuotaEntity, Map<String, Double>> both = Map.of(
                    userEntity, Map.of("producer_byte_rate", 1048576.0),
                    userDefaultClient, Map.of("request_percentage", 12.5));
            assertEquals(both, describeUntil(admin, exactUser, both));
            // Strict: only entities with exactly the filter's types.
            assertEquals(Map.of(userEntity, Map.of("producer_byte_rate", 1048576.0)),
                    describe(admin, ClientQuotaFilter.containsOnly(
                            List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user)))));
            assertEquals(Map.of(userDefaultClient, Map.of("request_percentage", 12.5)),
                    describe(admin, ClientQuotaFilter.containsOnly(List.of(
                            ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user),
                            ClientQuotaFilterComponent.ofDefaultEntity(ClientQuotaEntity.CLIENT_ID)))));
            assertEquals(Map.of("connection_creation_rate", 50.0),
                    describe(admin, ClientQuotaFilter.contains(List.of(
                            ClientQuotaFilterComponent.ofEntityType(ClientQuotaEntity.IP)))).get(ip));
            assertTrue(describe(admin, ClientQuotaFilter.all()).containsKey(userEntity));

            // Removing every key removes the entity.
            admin.alterClientQuotas(List.of(
                    set(userEntity, "producer_byte_rate", null),
                    set(userDefaultClient, "request_percentage", null),
                    set(ip, "connection_creation_rate", null))).all().get();
            assertEquals(Map.of(), describeUntil(admin, exactUser, Map.of()));
        }
    }

    @Test
    void badKeysValuesAndEntitiesAreRefusedAsKafkaRefusesThem() throws Exception {
        ClientQuotaEntity user = entity(ClientQuotaEntity.USER, Fjord.uniqueName("bad"));
        try (Admin admin = Fjord.admin()) {
            assertInstanceOf(InvalidRequestException.class, refused(admin, set(user, "no_such_quota", 1.0)));
            assertInstanceOf(InvalidRequestException.class, refused(admin, set(user, "producer_byte_rate", 1.5)));
            assertInstanceOf(InvalidRequestException.class,
                    refused(admin, set(user, "connection_creation_rate", 1.0)));
            assertInstanceOf(InvalidRequestException.class, refused(admin,
                    set(entity(ClientQuotaEntity.USER, "a", ClientQuotaEntity.IP, null), "producer_byte_rate", 1.0)));
            assertInstanceOf(InvalidRequestException.class,
                    refused(admin, set(entity(ClientQuotaEntity.IP, "not an ip"), "connection_creation_rate", 1.0)));
            ExecutionException unknownType = assertThrows(ExecutionException.class, () -> describe(admin,
                    ClientQuotaFilter.contains(List.of(ClientQuotaFilterComponent.ofEntityType("group")))));
            assertInstanceOf(UnsupportedVersionException.class, unknownType.getCause());
            ExecutionException ipWithUser = assertThrows(ExecutionException.class, () -> describe(admin,
                    ClientQuotaFilter.contains(List.of(
                            ClientQuotaFilterComponent.ofEntityType(ClientQuotaEntity.IP),
                            ClientQuotaFilterComponent.ofEntityType(ClientQuotaEntity.USER)))));
            assertInstanceOf(InvalidRequestException.class, ipWithUser.getCause());
            assertEquals(Map.of(), describe(admin, ClientQuotaFilter.contains(
                    List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, "a")))));
        }
    }
}
