// KafkaJS 2.2.4 against fjord: producer (acks -1 / 1, none / gzip) and the admin API.
//
// KafkaJS has no group-less consumer and fjord has no consumer groups yet, so
// produced records are read back with raw Fetch requests through KafkaJS's own
// protocol layer (its Cluster/Broker objects, the same code its consumer uses).
// The group-based consumer test belongs with the consumer-groups issue.
'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { Kafka, CompressionTypes, ConfigResourceTypes, logLevel } = require('kafkajs')
const { createReadyTopic, waitServed } = require('../lib/topics')

const BOOTSTRAP = process.env.FJORD_BOOTSTRAP
if (!BOOTSTRAP) throw new Error('FJORD_BOOTSTRAP is not set: run tests/clients/run.sh, which starts a broker')

const kafka = new Kafka({
  clientId: 'fjord-kafkajs-tests',
  brokers: [BOOTSTRAP],
  // expected protocol errors (duplicate create, shrink, delete twice) would log at ERROR
  logLevel: process.env.KAFKAJS_LOG ? logLevel.DEBUG : logLevel.NOTHING,
  retry: { retries: 3, initialRetryTime: 100 },
  requestTimeout: 15000,
})

const uniqueTopic = prefix => `${prefix}-${crypto.randomBytes(5).toString('hex')}`
const N = 2000

let admin
let producer

before(async () => {
  admin = kafka.admin()
  await admin.connect()
  producer = kafka.producer({ allowAutoTopicCreation: true })
  await producer.connect()
})

after(async () => {
  await producer.disconnect()
  await admin.disconnect()
})

/** KafkaJS's own Cluster object (what its consumer uses), connected. */
async function connectedCluster() {
  const createCluster = Object.getOwnPropertySymbols(kafka).find(s => String(s).includes('createCluster'))
  assert.ok(createCluster, 'KafkaJS internals changed: cannot find createCluster')
  const cluster = kafka[createCluster]({ allowAutoTopicCreation: false })
  await cluster.connect()
  return cluster
}

/** Read partitions [0, partitions) from offset 0 to their high watermark with raw Fetch requests. */
async function fetchAll(topic, partitions, expected) {
  const cluster = await connectedCluster()
  try {
    await cluster.addTargetTopic(topic)
    await cluster.refreshMetadata()
    const out = []
    const next = {}
    for (let p = 0; p < partitions; p++) next[p] = 0n
    const deadline = Date.now() + 30000
    while (out.length < expected && Date.now() < deadline) {
      const leaders = cluster.findLeaderForPartitions(topic, Object.keys(next).map(Number))
      for (const [nodeId, parts] of Object.entries(leaders)) {
        const broker = await cluster.findBroker({ nodeId })
        const { responses } = await broker.fetch({
          replicaId: -1,
          isolationLevel: 1,
          maxWaitTime: 100,
          minBytes: 1,
          maxBytes: 10 << 20,
          topics: [{ topic, partitions: parts.map(p => ({ partition: p, fetchOffset: String(next[p]), maxBytes: 1 << 20 })) }],
        })
        for (const { topicName, partitions: pds } of responses) {
          assert.equal(topicName, topic)
          for (const pd of pds) {
            assert.equal(pd.errorCode, 0, `fetch ${topic}/${pd.partition}: error code ${pd.errorCode}`)
            for (const m of pd.messages) {
              const off = BigInt(m.offset)
              if (off < next[pd.partition]) continue // a batch may start before the fetch offset
              out.push({
                partition: pd.partition,
                offset: Number(off),
                key: m.key && m.key.toString(),
                value: m.value && m.value.toString(),
                headers: Object.fromEntries(Object.entries(m.headers || {}).map(([k, v]) => [k, v.toString()])),
                timestamp: m.timestamp,
              })
              next[pd.partition] = off + 1n
            }
          }
        }
      }
    }
    return out
  } finally {
    await cluster.disconnect()
  }
}

function makeMessages(n, tag) {
  return Array.from({ length: n }, (_, i) => ({
    key: `key-${i % 50}`,
    value: `${tag}-value-${i}-` + 'x'.repeat(i % 97),
    headers: { idx: String(i), src: tag },
  }))
}

/** Records read back must be exactly the input, split by key over partitions, in order, offsets 0..n-1. */
function checkKeyed(messages, records, partitions) {
  assert.equal(records.length, messages.length, 'record count')
  const byPart = new Map()
  for (const r of records) {
    if (!byPart.has(r.partition)) byPart.set(r.partition, [])
    byPart.get(r.partition).push(r)
  }
  assert.equal(byPart.size, partitions, `records landed in ${byPart.size} of ${partitions} partitions`)
  const seenKeys = new Map()
  for (const [p, recs] of byPart) {
    const keys = new Set(recs.map(r => r.key))
    for (const k of keys) {
      assert.ok(!seenKeys.has(k), `key ${k} in partitions ${seenKeys.get(k)} and ${p}`)
      seenKeys.set(k, p)
    }
    const expected = messages.filter(m => keys.has(m.key))
    assert.deepEqual(
      recs.map(r => [r.offset, r.key, r.value, r.headers]),
      expected.map((m, i) => [i, m.key, m.value, m.headers]),
      `partition ${p} content`
    )
  }
}

for (const [acks, compression, cname] of [
  [-1, CompressionTypes.None, 'none'],
  [-1, CompressionTypes.GZIP, 'gzip'],
  [1, CompressionTypes.None, 'none'],
  [1, CompressionTypes.GZIP, 'gzip'],
]) {
  test(`producer acks=${acks} compression=${cname}: records read back exactly`, async () => {
    const topic = uniqueTopic(`kjs-${cname}`)
    assert.equal(await createReadyTopic(admin, { topic, numPartitions: 4 }), true)
    const messages = makeMessages(N, 'kjs')
    const meta = await producer.send({ topic, acks, compression, messages })
    assert.equal(meta.length, 4, 'one RecordMetadata per partition')
    for (const m of meta) {
      assert.equal(m.errorCode, 0)
      assert.equal(m.baseOffset, '0', `partition ${m.partition} base offset`)
    }
    checkKeyed(messages, await fetchAll(topic, 4, N), 4)

    // a second send continues each partition's offsets
    const more = await producer.send({ topic, acks, compression, messages: [{ key: 'key-0', value: 'again' }] })
    assert.equal(more.length, 1)
    const perPart = (await fetchAll(topic, 4, N + 1)).filter(r => r.partition === more[0].partition)
    assert.equal(perPart[perPart.length - 1].value, 'again')
    assert.equal(String(perPart[perPart.length - 1].offset), more[0].baseOffset)
  })
}

test('auto-create on produce uses num.partitions', async () => {
  const topic = uniqueTopic('kjs-auto')
  await producer.send({ topic, acks: -1, messages: [{ key: 'a', value: '1' }] })
  const md = await admin.fetchTopicMetadata({ topics: [topic] })
  assert.equal(md.topics[0].name, topic)
  assert.equal(md.topics[0].partitions.length, 4)
})

test('admin: createTopics with config, validateOnly, duplicate, listTopics, metadata, describeConfigs', async () => {
  const topic = uniqueTopic('kjs-adm')
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '123456789' }] }],
    waitForLeaders: true,
  })
  assert.equal(created, true)
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }), false, 'second create reports exists')

  const ghost = uniqueTopic('kjs-validate')
  // waitForLeaders would look the (never created) topic up in Metadata and fail, as it does on Kafka
  await admin.createTopics({ topics: [{ topic: ghost, numPartitions: 2 }], validateOnly: true, waitForLeaders: false })
  const names = await admin.listTopics()
  assert.ok(names.includes(topic), 'created topic is listed')
  assert.ok(!names.includes(ghost), 'validateOnly topic must not exist')

  const md = await admin.fetchTopicMetadata({ topics: [topic] })
  assert.equal(md.topics.length, 1)
  const parts = md.topics[0].partitions.sort((a, b) => a.partitionId - b.partitionId)
  assert.deepEqual(parts.map(p => p.partitionId), [0, 1, 2])
  const cluster = await admin.describeCluster()
  assert.equal(cluster.brokers.length, 1)
  const nodeId = cluster.brokers[0].nodeId
  assert.equal(cluster.controller, nodeId)
  assert.ok(cluster.clusterId, 'cluster id')
  for (const p of parts) {
    assert.equal(p.partitionErrorCode, 0)
    assert.equal(p.leader, nodeId)
    assert.deepEqual(p.replicas, [nodeId])
    assert.deepEqual(p.isr, [nodeId])
  }

  const desc = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
  })
  assert.equal(desc.resources.length, 1)
  assert.equal(desc.resources[0].errorCode, 0)
  const entry = desc.resources[0].configEntries.find(e => e.configName === 'retention.ms')
  assert.ok(entry, 'retention.ms is described')
  assert.equal(entry.configValue, '123456789')
  assert.equal(entry.isDefault, false)
  if (entry.configSource !== undefined) assert.equal(entry.configSource, 1, 'DYNAMIC_TOPIC_CONFIG')

  const only = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }],
  })
  assert.deepEqual(only.resources[0].configEntries.map(e => [e.configName, e.configValue]), [['retention.ms', '123456789']])
})

test('admin: fetchTopicOffsets, fetchTopicOffsetsByTimestamp, deleteTopicRecords', async () => {
  const topic = uniqueTopic('kjs-off')
  await createReadyTopic(admin, { topic, numPartitions: 2 })
  const base = Date.now() - 3600_000
  const messages = Array.from({ length: 30 }, (_, i) => ({ partition: 0, value: `m${i}`, timestamp: String(base + 1000 * i) }))
  await producer.send({ topic, acks: -1, messages })

  const offsets = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition)
  assert.deepEqual(offsets.map(o => [o.partition, o.low, o.high, o.offset]), [
    [0, '0', '30', '30'],
    [1, '0', '0', '0'],
  ])

  const byTs = (await admin.fetchTopicOffsetsByTimestamp(topic, base + 12_500)).sort((a, b) => a.partition - b.partition)
  assert.equal(byTs[0].offset, '13')

  await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '10' }] })
  const after = (await admin.fetchTopicOffsets(topic)).find(o => o.partition === 0)
  assert.equal(after.low, '10')
  assert.equal(after.high, '30')
  const recs = await fetchAllFrom(topic, 0, 10, 20)
  assert.deepEqual(recs.map(r => [r.offset, r.value]), Array.from({ length: 20 }, (_, i) => [10 + i, `m${10 + i}`]))
})

/** Fetch one partition from `start` (raw Fetch). */
async function fetchAllFrom(topic, partition, start, expected) {
  const createCluster = Object.getOwnPropertySymbols(kafka).find(s => String(s).includes('createCluster'))
  const cluster = kafka[createCluster]({ allowAutoTopicCreation: false })
  await cluster.connect()
  try {
    await cluster.addTargetTopic(topic)
    const leaders = cluster.findLeaderForPartitions(topic, [partition])
    const nodeId = Object.keys(leaders)[0]
    const broker = await cluster.findBroker({ nodeId })
    const out = []
    let next = BigInt(start)
    const deadline = Date.now() + 20000
    while (out.length < expected && Date.now() < deadline) {
      const { responses } = await broker.fetch({
        replicaId: -1,
        isolationLevel: 1,
        maxWaitTime: 100,
        topics: [{ topic, partitions: [{ partition, fetchOffset: String(next), maxBytes: 1 << 20 }] }],
      })
      const pd = responses[0].partitions[0]
      assert.equal(pd.errorCode, 0, `fetch error code ${pd.errorCode}`)
      for (const m of pd.messages) {
        if (BigInt(m.offset) < next) continue
        out.push({ offset: Number(m.offset), value: m.value.toString() })
        next = BigInt(m.offset) + 1n
      }
    }
    return out
  } finally {
    await cluster.disconnect()
  }
}

test('admin: createPartitions then produce to the new partition', async () => {
  const topic = uniqueTopic('kjs-parts')
  await createReadyTopic(admin, { topic, numPartitions: 2 })
  await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }] }) // resolves to undefined in 2.2.4
  await waitServed(admin, topic, 5)
  const md = await admin.fetchTopicMetadata({ topics: [topic] })
  assert.equal(md.topics[0].partitions.length, 5)
  const meta = await producer.send({ topic, acks: -1, messages: [{ partition: 4, value: 'p4-0' }, { partition: 4, value: 'p4-1' }] })
  assert.deepEqual(meta.map(m => [m.partition, m.errorCode, m.baseOffset]), [[4, 0, '0']])
  const recs = await fetchAllFrom(topic, 4, 0, 2)
  assert.deepEqual(recs, [{ offset: 0, value: 'p4-0' }, { offset: 1, value: 'p4-1' }])
  await assert.rejects(admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] }), /partition/i)
})

test('findGroupCoordinator answers a success as Kafka 4.1 does', async () => {
  const cluster = await connectedCluster()
  try {
    await cluster.refreshMetadata()
    const found = await cluster.findGroupCoordinatorMetadata({ groupId: uniqueTopic('coordinator') })
    assert.equal(found.errorCode, 0)
    // FindCoordinator v1-v3 carry Errors.NONE.message(), the name "NONE"
    // (KafkaJS's own broker test accepts null or "NONE"; "" is neither).
    assert.equal(found.errorMessage, 'NONE')
    assert.equal(String(found.coordinator.port), BOOTSTRAP.split(':').pop())
  } finally {
    await cluster.disconnect()
  }
})

test('admin: deleteTopics', async () => {
  const topic = uniqueTopic('kjs-del')
  await createReadyTopic(admin, { topic, numPartitions: 1 })
  assert.ok((await admin.listTopics()).includes(topic))
  await admin.deleteTopics({ topics: [topic], timeout: 10000 })
  let names = await admin.listTopics()
  for (let i = 0; i < 20 && names.includes(topic); i++) {
    await new Promise(r => setTimeout(r, 200))
    names = await admin.listTopics()
  }
  assert.ok(!names.includes(topic), 'deleted topic is no longer listed')
  await assert.rejects(admin.deleteTopics({ topics: [topic], timeout: 5000 }), /not exist|unknown|does not host/i)
})
