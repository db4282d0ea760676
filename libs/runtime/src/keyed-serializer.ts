/**
 * Runs tasks that share a key one after another, in the order they were asked for; tasks with
 * different keys run concurrently. A failed task does not stop the ones queued behind it.
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(task);
    this.tails.set(key, next);
    // The map holds only keys with work queued, so it does not grow with every key ever seen.
    void next
      .catch(() => undefined)
      .finally(() => {
        if (this.tails.get(key) === next) this.tails.delete(key);
      });
    return next;
  }

  /** Keys with work queued or running. */
  get busyKeys(): number {
    return this.tails.size;
  }
}
