import type { Producer, ProducerRecord, RecordMetadata } from 'kafkajs';
import { within } from '@lib/runtime';

/** How long a disconnect waits for a connect under way. */
const CONNECT_WAIT_ON_DISCONNECT_MS = 5_000;

/**
 * An idempotent producer that starts afresh (a new producer id, so new sequence numbers) after any
 * send that failed. kafkajs then rolls back that send's sequence numbers, though the broker may have
 * written part of it (a partition that succeeded beside one that failed; an answer lost with the
 * connection): its next send would reuse them for other records, which the broker refuses as out of
 * order, for ever if it also lost the producer's state after a restart (kafkajs#598), or drops as a
 * duplicate of what it already has. The failed send is not tried again here: what it wrote may be
 * there already, and only the caller can tell (the dispatcher reads its results topic first).
 * Sends go one at a time: a send queued behind a failing one would go out on the same producer with
 * the rolled-back numbers, and a one-record send matching a written one is dropped as its duplicate
 * while kafkajs reports success. (kafkajs already sends one request at a time per broker; with several
 * brokers, sends to different ones now wait for each other too.)
 * Connects on first use, and again after a failed connect.
 */
export class RenewingProducer {
  private producer: Producer;
  private connected?: Promise<void>;
  /** The send under way and those queued behind it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Disconnected for good: sends still queued fail instead of connecting it again. */
  private closed = false;

  constructor(private readonly create: () => Producer) {
    this.producer = create();
  }

  async connect(): Promise<void> {
    if (this.closed) throw new Error('the producer was disconnected: create a new one');
    this.connected ??= this.producer.connect().catch((error: Error) => {
      this.connected = undefined;
      throw error;
    });
    await this.connected;
  }

  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    const sending = this.queue.then(() => this.sendNow(record));
    this.queue = sending.catch(() => undefined);
    return sending;
  }

  private async sendNow(record: ProducerRecord): Promise<RecordMetadata[]> {
    if (this.closed) throw new Error('the producer was disconnected; nothing was sent');
    // A failed connect sent nothing: the producer stays.
    await this.connect();
    try {
      return await this.producer.send(record);
    } catch (error) {
      if (!this.closed) await this.renew();
      throw error;
    }
  }

  async disconnect(): Promise<void> {
    this.closed = true;
    const connecting = this.connected;
    this.connected = undefined;
    if (!connecting) return;
    // A connect still under way would finish after a disconnect and leave the producer connected: wait
    // for it, but not for long (with Kafka down it retries for many seconds), and disconnect it again
    // if it finishes later.
    const producer = this.producer;
    const settled = await within(
      connecting.then(
        () => true,
        () => true,
      ),
      CONNECT_WAIT_ON_DISCONNECT_MS,
    );
    await producer.disconnect();
    if (!settled) void connecting.then(() => producer.disconnect()).catch(() => undefined);
  }

  private async renew(): Promise<void> {
    const stale = this.producer;
    this.producer = this.create();
    this.connected = undefined;
    await stale.disconnect().catch(() => undefined);
  }
}
