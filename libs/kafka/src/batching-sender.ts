import type { Message, Producer } from 'kafkajs';

/** A message taken back before it was sent (BatchingSender.sendWithdrawable). */
export class MessageWithdrawnError extends Error {}

interface Queued {
  topic: string;
  message: Message;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Sends what callers queue while a send is in flight together (one request per topic): at thousands of messages per
 * second, one produce request per message (one in flight, for order) would cap throughput. The first
 * message goes out at once; nothing waits for a timer. Each caller learns whether its message made it.
 */
export class BatchingSender {
  private queue: Queued[] = [];
  private flushing = false;

  constructor(
    private readonly producer: Pick<Producer, 'send'>,
    private readonly maxBatch = 1000,
    /** A produce request of one topic stays under the broker's 1 MB record-batch limit, so one large
     * message cannot fail all the small ones queued with it. */
    private readonly maxBatchBytes = 512 * 1024,
  ) {}

  send(topic: string, message: Message): Promise<void> {
    return this.sendWithdrawable(topic, message).sent;
  }

  /**
   * As send, with a way to take the message back while it still waits for a batch: `withdraw()` says
   * whether it did (`sent` then fails with MessageWithdrawnError, and nothing was sent), or whether the
   * message was already on its way.
   */
  sendWithdrawable(topic: string, message: Message): { sent: Promise<void>; withdraw: () => boolean } {
    let queued!: Queued;
    const sent = new Promise<void>((resolve, reject) => {
      queued = { topic, message, resolve, reject };
      this.queue.push(queued);
      if (!this.flushing) void this.flush();
    });
    const withdraw = () => {
      const index = this.queue.indexOf(queued);
      if (index < 0) return false;
      this.queue.splice(index, 1);
      queued.reject(new MessageWithdrawnError('withdrawn before it was sent'));
      return true;
    };
    return { sent, withdraw };
  }

  /** How many queued messages go in the next batch: at least one, within both limits. */
  private batchLength(): number {
    let bytes = 0;
    let length = 0;
    for (const { message } of this.queue) {
      bytes += sizeOf(message.key) + sizeOf(message.value);
      if (length > 0 && (length >= this.maxBatch || bytes > this.maxBatchBytes)) break;
      length++;
    }
    return length;
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchLength());
      const byTopic = new Map<string, Message[]>();
      for (const { topic, message } of batch) {
        const messages = byTopic.get(topic) ?? [];
        messages.push(message);
        byTopic.set(topic, messages);
      }
      // One request per topic: a topic that fails (missing, refused) fails only its own callers.
      const outcomes = await Promise.allSettled(
        [...byTopic].map(([topic, messages]) => this.producer.send({ topic, messages })),
      );
      const failures = new Map(
        [...byTopic.keys()].map((topic, i) => {
          const outcome = outcomes[i];
          return [topic, outcome.status === 'rejected' ? (outcome.reason as Error) : undefined];
        }),
      );
      for (const queued of batch) {
        const failure = failures.get(queued.topic);
        if (failure) queued.reject(failure);
        else queued.resolve();
      }
    }
    this.flushing = false;
  }
}

function sizeOf(part: Message['key'] | Message['value']): number {
  if (part === null || part === undefined) return 0;
  return typeof part === 'string' ? Buffer.byteLength(part) : part.length;
}
