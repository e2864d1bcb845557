"""ACLs through confluent-kafka's AdminClient (CreateAcls, DescribeAcls,
DeleteAcls) against a Fjord with an authorizer.

run.sh's broker has no authorizer (nor has the Kafka reference), so this
module starts a second Fjord of its own from FJORD_BIN: a SASL_PLAINTEXT
listener, Kafka's StandardAuthorizer, super.users=User:admin and a PLAIN
user admin, as whom the AdminClient authenticates. Every test works on
resource names of its own, so they share that broker.
"""
import subprocess
import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from conftest import AGAINST_KAFKA, FJORD_BIN, free_port, own_fjord

pytestmark = pytest.mark.skipif(
    AGAINST_KAFKA or not FJORD_BIN,
    reason="starts a Fjord with an authorizer from FJORD_BIN "
    "(the Kafka reference broker has no authorizer)",
)

ADMIN_PASSWORD = "admin-secret"
INVALID_REQUEST = KafkaError.INVALID_REQUEST
ALLOW = AclPermissionType.ALLOW
DENY = AclPermissionType.DENY
LITERAL = ResourcePatternType.LITERAL
PREFIXED = ResourcePatternType.PREFIXED


@pytest.fixture(scope="module")
def secured_bootstrap():
    """A Fjord with the authorizer on; yields its SASL listener's address."""
    hashed = subprocess.run(
        [FJORD_BIN, "user", "hash", "--iterations", "10000"],
        input=ADMIN_PASSWORD + "\n", capture_output=True, text=True, check=True,
    ).stdout.strip()
    plain_port, sasl_port = free_port(), free_port()
    with own_fjord("fjord-acls-", sasl_port, [
        f"listeners=PLAINTEXT://127.0.0.1:{plain_port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users=User:admin",
        f"sasl.plain.users.admin={hashed}",
    ]):
        yield f"127.0.0.1:{sasl_port}"


@pytest.fixture(scope="module")
def acl_admin(secured_bootstrap):
    return AdminClient({
        "bootstrap.servers": secured_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "admin",
        "sasl.password": ADMIN_PASSWORD,
        "socket.timeout.ms": 10000,
    })


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def binding(restype, name, principal, operation, permission=ALLOW, pattern=LITERAL):
    return AclBinding(restype, name, pattern, principal, "*", operation, permission)


def create(admin, bindings):
    """CreateAcls: for each binding, None or the KafkaError it was refused with."""
    futures = admin.create_acls(bindings, request_timeout=15)
    outcomes = []
    for b in bindings:
        try:
            outcomes.append(futures[b].result(timeout=20))
        except KafkaException as e:
            outcomes.append(e.args[0])
    return outcomes


def describe(admin, acl_filter):
    return sorted(admin.describe_acls(acl_filter, request_timeout=15).result(timeout=20))


def delete(admin, acl_filter):
    deleted = admin.delete_acls([acl_filter], request_timeout=15)[acl_filter].result(timeout=20)
    return sorted(deleted)


def of_principal(principal, pattern=ResourcePatternType.ANY):
    return AclBindingFilter(
        ResourceType.ANY, None, pattern, principal, None, AclOperation.ANY, AclPermissionType.ANY,
    )


def test_create_describe_with_each_filter_and_delete_returning_the_bindings(acl_admin):
    alice, bob = unique("User:alice"), unique("User:bob")
    topic = unique("orders")
    prefix = topic + "-"
    literal_write = binding(ResourceType.TOPIC, topic, alice, AclOperation.WRITE)
    prefixed_read = binding(ResourceType.TOPIC, prefix, alice, AclOperation.READ, pattern=PREFIXED)
    group_read = binding(ResourceType.GROUP, topic, alice, AclOperation.READ)
    bob_denied = binding(ResourceType.TOPIC, topic, bob, AclOperation.WRITE, permission=DENY)
    created = [literal_write, prefixed_read, group_read, bob_denied]
    assert create(acl_admin, created) == [None] * len(created)
    # Creating a binding twice succeeds and stores it once.
    assert create(acl_admin, [literal_write]) == [None]

    # ANY over everything but the principal: alice's three bindings.
    assert describe(acl_admin, of_principal(alice)) == sorted([literal_write, prefixed_read, group_read])
    # A literal filter: that exact pattern only.
    exact = AclBindingFilter(ResourceType.TOPIC, topic, LITERAL, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    assert describe(acl_admin, exact) == sorted([literal_write, bob_denied])
    # A prefixed filter: the prefixed pattern of that very name only.
    by_prefix = AclBindingFilter(ResourceType.TOPIC, prefix, PREFIXED, None, None,
                                 AclOperation.ANY, AclPermissionType.ANY)
    assert describe(acl_admin, by_prefix) == [prefixed_read]
    # MATCH: every pattern that applies to the topic `<prefix>eu`, so the
    # prefixed one, and not the literal one of another name.
    matching = AclBindingFilter(ResourceType.TOPIC, prefix + "eu", ResourcePatternType.MATCH,
                                None, None, AclOperation.ANY, AclPermissionType.ANY)
    assert describe(acl_admin, matching) == [prefixed_read]
    # Filters on operation and permission.
    denials = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                               AclOperation.WRITE, DENY)
    assert bob_denied in describe(acl_admin, denials)
    assert literal_write not in describe(acl_admin, denials)

    # DeleteAcls returns the bindings it matched, and only those go.
    assert delete(acl_admin, of_principal(alice, PREFIXED)) == [prefixed_read]
    assert delete(acl_admin, of_principal(alice)) == sorted([literal_write, group_read])
    assert describe(acl_admin, of_principal(alice)) == []
    assert delete(acl_admin, of_principal(alice)) == []
    assert describe(acl_admin, of_principal(bob)) == [bob_denied]
    assert delete(acl_admin, of_principal(bob)) == [bob_denied]


def create_raw(bootstrap, creations):
    """CreateAcls of `creations` (dicts of the wire fields) as sent by
    kafka-python's protocol layer, which (unlike confluent-kafka's
    AclBinding) lets a test send a resource type no client would; the
    (error code, message) of each creation."""
    from kafka import KafkaAdminClient
    from kafka.protocol.admin import CreateAclsRequest

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
        sasl_plain_username="admin", sasl_plain_password=ADMIN_PASSWORD,
    )
    try:
        request = CreateAclsRequest(
            creations=[CreateAclsRequest.AclCreation(**c) for c in creations])
        # kafka-python 3.0.12 (pinned) has no public call for a raw request.
        response = admin._manager.run(admin._manager.send, request)
        return [(r.error_code, r.error_message) for r in response.results]
    finally:
        admin.close()


def stored_on(admin, name):
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    return [b for b in describe(admin, everything) if b.name == name]


def test_an_empty_principal_is_refused_alone_and_not_stored(acl_admin):
    alice = unique("User:alice")
    topic = unique("empty-principal")
    valid = binding(ResourceType.TOPIC, topic, alice, AclOperation.READ)
    empty_principal = binding(ResourceType.TOPIC, topic, "", AclOperation.WRITE)
    outcomes = create(acl_admin, [valid, empty_principal])
    assert outcomes[0] is None, outcomes
    assert isinstance(outcomes[1], KafkaError), outcomes
    assert outcomes[1].code() == INVALID_REQUEST, outcomes[1]
    assert stored_on(acl_admin, topic) == [valid]
    assert delete(acl_admin, of_principal(alice)) == [valid]


def test_an_unknown_resource_type_is_refused_alone_and_not_stored(secured_bootstrap, acl_admin):
    alice = unique("User:alice")
    topic = unique("unknown-type")
    creation = dict(resource_type=int(ResourceType.TOPIC.value), resource_name=topic,
                    resource_pattern_type=int(LITERAL.value), principal=alice, host="*",
                    operation=int(AclOperation.READ.value), permission_type=int(ALLOW.value))
    # 99 is no resource type Kafka defines (its UNKNOWN is 0, which Kafka
    # 4.1 refuses while parsing the whole request).
    unknown = dict(creation, resource_type=99, operation=int(AclOperation.WRITE.value))
    outcomes = create_raw(secured_bootstrap, [creation, unknown])
    assert outcomes[0][0] == 0, outcomes
    assert outcomes[1][0] == INVALID_REQUEST, outcomes
    valid = binding(ResourceType.TOPIC, topic, alice, AclOperation.READ)
    assert stored_on(acl_admin, topic) == [valid]
    assert delete(acl_admin, of_principal(alice)) == [valid]
