// KafkaJS 2.2.4 with its own SASL and TLS code (node's tls module): SCRAM-SHA-512
// inside TLS on the SASL_SSL listener run.sh opens, verifying the server
// certificate against run.sh's throwaway CA, and PLAIN on the SASL_PLAINTEXT
// listener. The right password produces, then consumes in a group, exactly the
// bytes produced; a wrong one fails with KafkaJS's authentication error and
// writes nothing. run.sh gives the user its SCRAM-SHA-512 credential with
// `fjord user add` (KafkaJS has no AlterUserScramCredentials). The Kafka
// reference opens none of these listeners: the whole file skips there.
'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const { Kafka, logLevel } = require('kafkajs')
const { createReadyTopic } = require('../lib/topics')

const NEEDED = ['FJORD_SASL_BOOTSTRAP', 'FJORD_SASL_USER', 'FJORD_SASL_PASSWORD',
  'FJORD_SASL_SSL_BOOTSTRAP', 'FJORD_SSL_CA']
const missing = NEEDED.filter(name => !process.env[name])
const skip = missing.length ? `no SASL or TLS listeners (${missing.join(', ')} unset)` : false
const env = name => process.env[name]

const WRONG_PASSWORD = 'not-the-password'
const unique = prefix => `${prefix}-${crypto.randomBytes(5).toString('hex')}`

function client({ bootstrap, ssl, mechanism, password }) {
  return new Kafka({
    clientId: 'fjord-kafkajs-sasl',
    brokers: [bootstrap],
    ssl,
    sasl: { mechanism, username: env('FJORD_SASL_USER'), password },
    logLevel: process.env.KAFKAJS_LOG ? logLevel.DEBUG : logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 100 },
    requestTimeout: 15000,
  })
}

const scramOverTls = password => client({
  bootstrap: env('FJORD_SASL_SSL_BOOTSTRAP'),
  ssl: { ca: [fs.readFileSync(env('FJORD_SSL_CA'))] },
  mechanism: 'scram-sha-512',
  password,
})
const plain = password => client({ bootstrap: env('FJORD_SASL_BOOTSTRAP'), mechanism: 'plain', password })

/** Values holding every byte value, from 1 KB to ~30 KB. */
function binaryValues(tag, count) {
  const salt = crypto.randomBytes(16)
  return Array.from({ length: count }, (_, i) => Buffer.concat([
    Buffer.from(tag), salt,
    Buffer.from(Array.from({ length: 1000 + i * 1499 }, (_, j) => (i * 31 + j * 7) % 256)),
  ]))
}

const isSaslRefusal = error => {
  assert.equal(error.name, 'KafkaJSSASLAuthenticationError', `${error.name}: ${error.message}`)
  return true
}

/**
 * A wrong password: the producer's connect fails with KafkaJS's SASL error
 * (a send after it fails before reaching the broker: KafkaJS only says the
 * producer is disconnected).
 */
async function refused(kafka) {
  const producer = kafka.producer()
  await assert.rejects(producer.connect(), isSaslRefusal)
  await producer.disconnect()
}

/**
 * Produces `values` to a new one-partition topic (after a refused client
 * tried to), reads them back with a consumer group and checks the offsets,
 * bytes and order: the records start at offset 0, so the refused client
 * wrote nothing.
 */
async function roundTrip(kafka, wrong, tag, values) {
  const topic = unique(`kjs-${tag}`)
  const admin = kafka.admin()
  await admin.connect()
  try {
    await createReadyTopic(admin, { topic, numPartitions: 1 })
    await refused(wrong)

    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic, acks: -1, messages: values.map(value => ({ partition: 0, value })) })
    await producer.disconnect()

    const consumer = kafka.consumer({ groupId: unique(`kjs-${tag}`), maxWaitTimeInMs: 100 })
    await consumer.connect()
    const seen = []
    let resolveAll
    const all = new Promise(resolve => { resolveAll = resolve })
    try {
      await consumer.subscribe({ topic, fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ message }) => {
          seen.push([message.offset, message.value])
          if (seen.length >= values.length) resolveAll()
        },
      })
      const timeout = new Promise((_, reject) => setTimeout(
        () => reject(new Error(`only ${seen.length} of ${values.length} consumed`)), 60000).unref())
      await Promise.race([all, timeout])
    } finally {
      await consumer.disconnect()
    }
    assert.deepEqual(seen.map(([offset]) => offset), values.map((_, i) => String(i)))
    seen.forEach(([, value], i) => assert.ok(value.equals(values[i]), `record ${i} differs`))
  } finally {
    await admin.disconnect()
  }
}

test('SCRAM-SHA-512 over SASL_SSL: exact bytes back through a group; a wrong password is refused',
  { skip }, async () => {
    await roundTrip(scramOverTls(env('FJORD_SASL_PASSWORD')), scramOverTls(WRONG_PASSWORD),
      'sasl-ssl', binaryValues('kafkajs-scram', 20))
  })

test('PLAIN over SASL_PLAINTEXT: exact bytes back through a group; a wrong password is refused',
  { skip }, async () => {
    await roundTrip(plain(env('FJORD_SASL_PASSWORD')), plain(WRONG_PASSWORD),
      'sasl-plain', binaryValues('kafkajs-plain', 20))
  })
