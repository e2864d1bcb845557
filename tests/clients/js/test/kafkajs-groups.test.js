// KafkaJS 2.2.4 consumer groups against fjord: two consumers in one group
// split a topic and get every record once; committed offsets, listGroups,
// describeGroups, fetchOffsets, resetOffsets and deleteGroups through the admin.
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
  clientId: 'fjord-kafkajs-groups',
  brokers: [BOOTSTRAP],
  logLevel: process.env.KAFKAJS_LOG ? logLevel.DEBUG : logLevel.NOTHING,
  retry: { retries: 5, initialRetryTime: 100 },
  requestTimeout: 15000,
})

const N = 600
const PARTITIONS = 4
let admin

before(async () => {
  admin = kafka.admin()
  await admin.connect()
})

after(async () => {
  await admin.disconnect()
})

test('two consumers in a group get every record once; admin sees the group', async () => {
  const topic = `kjs-groups-${crypto.randomBytes(5).toString('hex')}`
  const groupId = `kjs-${crypto.randomBytes(4).toString('hex')}`
  await createReadyTopic(admin, { topic, numPartitions: PARTITIONS })
  const producer = kafka.producer()
  await producer.connect()
  const messages = Array.from({ length: N }, (_, i) => ({ key: `k${i % 13}`, value: `v${i}` }))
  await producer.send({ topic, messages, acks: -1 })
  await producer.disconnect()

  const seen = new Map()
  let resolveAll
  const all = new Promise(resolve => { resolveAll = resolve })
  const consumers = [0, 1].map(() => kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500 }))
  for (const consumer of consumers) {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        const v = message.value.toString()
        seen.set(v, (seen.get(v) || 0) + 1)
        if (seen.size === N) resolveAll()
      },
    })
  }
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${seen.size} of ${N} consumed`)), 60000).unref())
  await Promise.race([all, timeout])
  assert.equal(seen.size, N)

  const described = await admin.describeGroups([groupId])
  const group = described.groups[0]
  assert.equal(group.protocolType, 'consumer')
  assert.ok(['Stable', 'PreparingRebalance', 'CompletingRebalance'].includes(group.state), group.state)
  const listed = await admin.listGroups()
  assert.ok(listed.groups.some(g => g.groupId === groupId))

  for (const consumer of consumers) await consumer.disconnect()
  const duplicates = [...seen.values()].filter(n => n > 1).length
  assert.equal(duplicates, 0, `${duplicates} records consumed twice`)

  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
  const total = offsets[0].partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
  assert.equal(total, N, JSON.stringify(offsets))

  await admin.resetOffsets({ groupId, topic, earliest: true })
  const reset = await admin.fetchOffsets({ groupId, topics: [topic] })
  assert.ok(reset[0].partitions.every(p => Number(p.offset) <= 0), JSON.stringify(reset))

  await admin.deleteGroups([groupId])
  const after = await admin.describeGroups([groupId])
  assert.equal(after.groups[0].state, 'Dead')
})
