// KafkaJS 2.2.4 transactions: producer.transaction() commits and aborts as a
// read_committed consumer (readUncommitted: false) and a read_uncommitted one
// see them, at exact offsets (each commit or abort marker takes one offset);
// sendOffsets commits a group's input offsets inside the transaction, visible
// through the admin only once the transaction commits, dropped when it aborts.
'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { Kafka, logLevel } = require('kafkajs')
const { createReadyTopic } = require('../lib/topics')

const BOOTSTRAP = process.env.FJORD_BOOTSTRAP
if (!BOOTSTRAP) throw new Error('FJORD_BOOTSTRAP is not set: run tests/clients/run.sh, which starts a broker')

const kafka = new Kafka({
  clientId: 'fjord-kafkajs-transactions',
  brokers: [BOOTSTRAP],
  logLevel: process.env.KAFKAJS_LOG ? logLevel.DEBUG : logLevel.NOTHING,
  retry: { retries: 5, initialRetryTime: 100 },
  requestTimeout: 15000,
})

const unique = prefix => `${prefix}-${crypto.randomBytes(5).toString('hex')}`
let admin

before(async () => {
  admin = kafka.admin()
  await admin.connect()
})

after(async () => {
  await admin.disconnect()
})

async function transactionalProducer() {
  const producer = kafka.producer({ transactionalId: unique('kjs-txn'), idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  return producer
}

const records = (tag, n) => Array.from({ length: n }, (_, i) => ({
  key: `k${i % 3}`, value: `${tag}-${i}`, headers: { txn: tag },
}))

/** [offset, key, value, txn header] for records from `first` on. */
const at = (first, recs) => recs.map((r, i) => [String(first + i), r.key, r.value, r.headers.txn])

/**
 * What a consumer in a new group reads from the start of `topic` (one
 * partition): waits for `expected` records, then `settleMs` more so that
 * anything extra would show.
 */
async function readAll(topic, expected, { readUncommitted, settleMs = 1000 }) {
  const consumer = kafka.consumer({ groupId: unique('kjs-txn-reader'), readUncommitted, maxWaitTimeInMs: 100 })
  await consumer.connect()
  const out = []
  let reached
  const enough = new Promise(resolve => { reached = resolve })
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        out.push([message.offset, message.key.toString(), message.value.toString(), message.headers.txn.toString()])
        if (out.length >= expected) reached()
      },
    })
    let timer
    await Promise.race([enough, new Promise(resolve => { timer = setTimeout(resolve, 30000) })])
    clearTimeout(timer)
    await new Promise(resolve => setTimeout(resolve, settleMs))
    return out
  } finally {
    await consumer.disconnect()
  }
}

test('commit and abort as read_committed and read_uncommitted consumers see them', async () => {
  const topic = unique('kjs-txn')
  await createReadyTopic(admin, { topic, numPartitions: 1 })
  const [first, aborted, second] = [records('first', 4), records('aborted', 3), records('second', 5)]
  const producer = await transactionalProducer()
  try {
    const offsetsOf = answer => answer.map(r => Number(r.baseOffset))
    let txn = await producer.transaction()
    assert.deepEqual(offsetsOf(await txn.send({ topic, messages: first.map(r => ({ ...r, partition: 0 })) })), [0])
    await txn.commit() // marker at 4
    txn = await producer.transaction()
    assert.deepEqual(offsetsOf(await txn.send({ topic, messages: aborted.map(r => ({ ...r, partition: 0 })) })), [5])
    await txn.abort() // marker at 8
    txn = await producer.transaction()
    assert.deepEqual(offsetsOf(await txn.send({ topic, messages: second.map(r => ({ ...r, partition: 0 })) })), [9])
    await txn.commit() // marker at 14
  } finally {
    await producer.disconnect()
  }
  assert.deepEqual(await readAll(topic, 9, { readUncommitted: false }), [...at(0, first), ...at(9, second)])
  assert.deepEqual(await readAll(topic, 12, { readUncommitted: true }),
    [...at(0, first), ...at(5, aborted), ...at(9, second)])
})

/** The group's committed offset of partition 0 of `topic` (-1: none). */
async function committedOffset(groupId, topic) {
  const [answer] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return Number(answer.partitions.find(p => p.partition === 0).offset)
}

async function eventually(what, expected, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const got = await what()
    if (got === expected || Date.now() > deadline) return got
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

test('sendOffsets commits the input offsets with the transaction, or not at all', async () => {
  const [input, output] = [unique('kjs-ctp-in'), unique('kjs-ctp-out')]
  await createReadyTopic(admin, { topic: input, numPartitions: 1 })
  await createReadyTopic(admin, { topic: output, numPartitions: 1 })
  const consumerGroupId = unique('kjs-ctp')
  const producer = await transactionalProducer()
  const upper = r => ({ key: r.key, value: r.value.toUpperCase(), headers: r.headers, partition: 0 })
  const inputs = records('in', 6)
  try {
    // Transformed output and the input offsets, in one transaction each.
    const offsets = offset => ({ consumerGroupId, topics: [{ topic: input, partitions: [{ partition: 0, offset: String(offset) }] }] })
    let txn = await producer.transaction()
    await txn.send({ topic: output, messages: inputs.slice(0, 3).map(upper) })
    await txn.sendOffsets(offsets(3))
    await txn.commit() // output marker at 3
    assert.equal(await eventually(() => committedOffset(consumerGroupId, input), 3), 3)

    txn = await producer.transaction()
    await txn.send({ topic: output, messages: inputs.slice(3).map(upper) })
    await txn.sendOffsets(offsets(6))
    await txn.abort() // output 4..6, marker at 7
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.equal(await committedOffset(consumerGroupId, input), 3, 'aborted offsets are dropped')

    txn = await producer.transaction()
    await txn.send({ topic: output, messages: inputs.slice(3).map(upper) })
    await txn.sendOffsets(offsets(6))
    await txn.commit() // output 8..10, marker at 11
    assert.equal(await eventually(() => committedOffset(consumerGroupId, input), 6), 6)
  } finally {
    await producer.disconnect()
  }
  const transformed = inputs.map(upper)
  assert.deepEqual(await readAll(output, 6, { readUncommitted: false }),
    [...at(0, transformed.slice(0, 3)), ...at(8, transformed.slice(3))])
})
