'use strict'

// Kafka lists a new topic's leaders in Metadata a moment before the leader
// serves the partition: a produce sent in between fails with
// NOT_LEADER_OR_FOLLOWER, and KafkaJS (without idempotence) then resends the
// whole request, so partitions that had already accepted it get the records
// twice. Waiting until every partition answers ListOffsets closes that window,
// on Kafka as on Fjord.

/** Creates the topic and returns createTopics' answer once every partition serves requests. */
async function createReadyTopic(admin, spec) {
  const created = await admin.createTopics({ topics: [spec], waitForLeaders: true })
  await waitServed(admin, spec.topic, spec.numPartitions)
  return created
}

/** Waits until all `partitions` partitions of the topic answer ListOffsets. */
async function waitServed(admin, topic, partitions, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs
  let lastError
  while (Date.now() < deadline) {
    try {
      const offsets = await admin.fetchTopicOffsets(topic)
      if (offsets.length === partitions) return
      lastError = new Error(`${offsets.length} of ${partitions} partitions answered ListOffsets`)
    } catch (e) {
      lastError = e
    }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  throw new Error(`topic ${topic} not served after ${timeoutMs} ms: ${lastError}`)
}

module.exports = { createReadyTopic, waitServed }
