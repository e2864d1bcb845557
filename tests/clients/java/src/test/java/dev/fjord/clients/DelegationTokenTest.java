package dev.fjord.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.CreateDelegationTokenOptions;
import org.apache.kafka.clients.admin.DescribeDelegationTokenOptions;
import org.apache.kafka.clients.admin.ExpireDelegationTokenOptions;
import org.apache.kafka.clients.admin.RenewDelegationTokenOptions;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.UnsupportedByAuthenticationException;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.common.security.token.delegation.DelegationToken;
import org.apache.kafka.common.security.token.delegation.TokenInformation;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Delegation tokens (KIP-48) with the Java client, on the SASL_PLAINTEXT
 * listener run.sh opens (FJORD_SASL_BOOTSTRAP, with
 * delegation.token.secret.key set): a SCRAM user creates a token; producer,
 * group consumer and admin authenticate with it over SCRAM-SHA-512 with
 * tokenauth=true; the owner renews and expires it; the expired token is
 * refused.
 */
class DelegationTokenTest {
    private static final String MECHANISM = "SCRAM-SHA-512";

    private static String saslBootstrap() {
        String bootstrap = System.getenv("FJORD_SASL_BOOTSTRAP");
        Assumptions.assumeTrue(bootstrap != null && !bootstrap.isEmpty(),
                "FJORD_SASL_BOOTSTRAP is not set (the Kafka reference broker has no SASL listener)");
        return bootstrap;
    }

    /** SCRAM-SHA-512 over SASL_PLAINTEXT with these JAAS options. */
    private static Properties scram(String bootstrap, String username, String password, boolean tokenAuth) {
        Properties props = new Properties();
        props.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
        props.put(SaslConfigs.SASL_MECHANISM, MECHANISM);
        props.put(SaslConfigs.SASL_JAAS_CONFIG, String.format(
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                        + "username=\"%s\" password=\"%s\"%s;",
                username, password, tokenAuth ? " tokenauth=\"true\"" : ""));
        return props;
    }

    private static Properties with(Properties base, Properties extra) {
        Properties props = new Properties();
        props.putAll(extra);
        props.putAll(base);
        return props;
    }

    @Test
    void tokenAuthenticatesAsItsOwnerUntilExpired() throws Exception {
        String bootstrap = saslBootstrap();
        String user = System.getenv("FJORD_SASL_USER");
        Properties owner = scram(bootstrap, user, System.getenv("FJORD_SASL_PASSWORD"), false);
        KafkaPrincipal ownerPrincipal = new KafkaPrincipal(KafkaPrincipal.USER_TYPE, user);

        try (Admin admin = Admin.create(owner)) {
            long before = System.currentTimeMillis();
            DelegationToken token = admin.createDelegationToken(new CreateDelegationTokenOptions()
                    .maxlifeTimeMs(Duration.ofHours(2).toMillis())).delegationToken().get();
            TokenInformation info = token.tokenInfo();
            assertEquals(ownerPrincipal, info.owner());
            assertTrue(info.maxTimestamp() >= before + Duration.ofHours(2).toMillis() - 1000
                    && info.maxTimestamp() <= System.currentTimeMillis() + Duration.ofHours(2).toMillis(),
                    "max timestamp " + info.maxTimestamp());
            Properties asToken = scram(bootstrap, info.tokenId(), token.hmacAsBase64String(), true);

            // The token's session produces and consumes in a group.
            String topic = Fjord.uniqueName("token");
            List<Long> offsets = new ArrayList<>();
            try (KafkaProducer<String, String> producer =
                         new KafkaProducer<>(with(asToken, Fjord.producerProps()))) {
                for (int i = 0; i < 10; i++) {
                    RecordMetadata sent = producer.send(new ProducerRecord<>(topic, 0, "k", "v" + i)).get();
                    offsets.add(sent.offset());
                }
            }
            assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L), offsets);
            Properties consumerProps = with(asToken, Fjord.consumerProps(Fjord.uniqueName("token-group")));
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
                consumer.subscribe(List.of(topic));
                List<ConsumerRecord<String, String>> records = Fjord.pollUntil(consumer, 10);
                for (int i = 0; i < 10; i++) {
                    assertEquals("v" + i, records.get(i).value());
                }
                consumer.commitSync();
            }

            // A token's session may not manage tokens (Kafka's rule): this
            // admin really authenticated with the token.
            try (Admin tokenAdmin = Admin.create(asToken)) {
                ExecutionException refused = assertThrows(ExecutionException.class,
                        () -> tokenAdmin.describeDelegationToken().delegationTokens().get());
                assertInstanceOf(UnsupportedByAuthenticationException.class, refused.getCause());
            }

            // Renew: the expiry moves to an hour from now, as Describe shows.
            long renewedAt = System.currentTimeMillis();
            long renewed = admin.renewDelegationToken(token.hmac(), new RenewDelegationTokenOptions()
                    .renewTimePeriodMs(Duration.ofHours(1).toMillis())).expiryTimestamp().get();
            assertTrue(renewed >= renewedAt + Duration.ofHours(1).toMillis() - 1000
                    && renewed <= System.currentTimeMillis() + Duration.ofHours(1).toMillis(),
                    "renewed expiry " + renewed);
            assertEquals(renewed, describe(admin, info.tokenId()).tokenInfo().expiryTimestamp());

            // Expire at once: the token is gone and no longer authenticates.
            admin.expireDelegationToken(token.hmac(), new ExpireDelegationTokenOptions().expiryTimePeriodMs(-1))
                    .expiryTimestamp().get();
            assertTrue(admin.describeDelegationToken(new DescribeDelegationTokenOptions()
                    .owners(List.of(ownerPrincipal))).delegationTokens().get().stream()
                    .noneMatch(t -> t.tokenInfo().tokenId().equals(info.tokenId())));
            Properties refusedProducer = with(asToken, Fjord.producerProps());
            refusedProducer.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "10000");
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(refusedProducer)) {
                Throwable refused = assertThrows(Exception.class,
                        () -> producer.send(new ProducerRecord<>(topic, 0, "k", "after expiry")).get());
                assertTrue(causedBy(refused, SaslAuthenticationException.class), refused.toString());
            }
            try (KafkaConsumer<String, String> reader = new KafkaConsumer<>(with(owner, Fjord.consumerProps(null)))) {
                var partition = new org.apache.kafka.common.TopicPartition(topic, 0);
                assertEquals(10L, reader.endOffsets(List.of(partition)).get(partition));
            }
        }
    }

    private static DelegationToken describe(Admin admin, String tokenId) throws Exception {
        return admin.describeDelegationToken().delegationTokens().get().stream()
                .filter(t -> t.tokenInfo().tokenId().equals(tokenId)).findFirst()
                .orElseThrow(() -> new AssertionError("token " + tokenId + " not described"));
    }

    private static boolean causedBy(Throwable e, Class<? extends Throwable> type) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (type.isInstance(t)) {
                return true;
            }
        }
        return false;
    }
}
