import type { Producer, ProducerRecord, RecordMetadata } from 'kafkajs';

/**
 * An idempotent producer that starts afresh when the broker has lost its producer state (after a
 * broker restart kafkajs keeps sending the old sequence numbers: "out of order sequence number",
 * forever, kafkajs#598). A new producer gets a new producer id; the send is tried once more with it.
 * Connects on first use, and again after a failed connect.
 */
export class RenewingProducer {
  private producer: Producer;
  private connected?: Promise<void>;

  constructor(private readonly create: () => Producer) {
    this.producer = create();
  }

  async connect(): Promise<void> {
    this.connected ??= this.producer.connect().catch((error: Error) => {
      this.connected = undefined;
      throw error;
    });
    await this.connected;
  }

  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    await this.connect();
    const used = this.producer;
    try {
      return await used.send(record);
    } catch (error) {
      if (!producerStateLost(error)) throw error;
      // Concurrent sends may fail together: only the first renews, the others use its new producer.
      if (this.producer === used) await this.renew();
      await this.connect();
      return this.producer.send(record);
    }
  }

  async disconnect(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
    this.connected = undefined;
  }

  private async renew(): Promise<void> {
    const stale = this.producer;
    this.producer = this.create();
    this.connected = undefined;
    await stale.disconnect().catch(() => undefined);
  }
}

const LOST_STATE =
  /OUT_OF_ORDER_SEQUENCE_NUMBER|UNKNOWN_PRODUCER_ID|INVALID_PRODUCER_EPOCH|out of order sequence number|producer id|producer epoch/i;

/** Whether kafkajs failed because the broker no longer knows this producer's id or sequence. */
export function producerStateLost(error: unknown): boolean {
  for (let cause = error as { type?: unknown; message?: unknown; cause?: unknown } | undefined; cause;) {
    if (LOST_STATE.test(String(cause.type ?? '')) || LOST_STATE.test(String(cause.message ?? '')))
      return true;
    cause = cause.cause as typeof cause;
  }
  return false;
}
