/**
 * Drops the topics and databases earlier test runs left in the local servers (`npm test` runs this
 * first). Every test file names its own with a random id, so they pile up: thousands of partitions
 * on a broker make it slower for everything after, the benchmark included. Kept until the next run,
 * so a failed run's data can still be looked at. Only the project's own servers are purged: on servers
 * of another's (KAFKA_BROKERS, MONGODB_URI), other runs' or people's `test-` topics may be in use.
 */
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { kafkaBrokers, kafkaIsOurs, mongoIsOurs, mongoUri } from './local-servers';
import { TEST_DATABASE_PREFIX, TEST_TOPIC_PREFIX } from './test-environment';

const TOPICS_PER_REQUEST = 100;

async function purgeTopics(brokers: string[]): Promise<number> {
  const admin = new Kafka({ clientId: 'test-purge', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(TEST_TOPIC_PREFIX));
    for (let i = 0; i < topics.length; i += TOPICS_PER_REQUEST)
      await admin.deleteTopics({ topics: topics.slice(i, i + TOPICS_PER_REQUEST), timeout: 30_000 });
    return topics.length;
  } finally {
    await admin.disconnect();
  }
}

async function purgeDatabases(uri: string): Promise<number> {
  const client = await MongoClient.connect(uri);
  try {
    const { databases } = await client.db().admin().listDatabases({ nameOnly: true });
    const ours = databases.filter((db) => db.name.startsWith(TEST_DATABASE_PREFIX));
    for (const db of ours) await client.db(db.name).dropDatabase();
    return ours.length;
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const notOurs = (setting: string) => `none (${setting} names servers the project did not start)`;
  const [topics, databases] = await Promise.all([
    kafkaIsOurs() ? purgeTopics(kafkaBrokers().split(',')) : notOurs('KAFKA_BROKERS'),
    mongoIsOurs() ? purgeDatabases(mongoUri()) : notOurs('MONGODB_URI'),
  ]);
  console.log(`earlier test runs: dropped topics: ${topics}; databases: ${databases}`);
}

main().catch((error: Error) => {
  // Leftovers slow the servers down but break nothing: the tests still run.
  console.warn(`could not drop earlier test runs' topics and databases: ${error.message}`);
});
