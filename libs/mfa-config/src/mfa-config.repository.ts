import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { randomUUID } from 'node:crypto';
import { Model, mongo } from 'mongoose';
import {
  AppliedStatus,
  ConfigChange,
  configRecordId,
  MFA_CONFIG_MODEL,
  MfaConfigRecord,
  PendingConfigEvent,
  StoredPushSettings,
} from './mfa-config.schema';
import { KeyedSerializer } from '@lib/runtime';
import { MFA_TYPES, MfaProvider, MfaType } from './mfa-configuration';
import { withoutUndefined } from './without-undefined';

/**
 * What the relay publishes and the dispatchers apply is read as a majority of a replica set holds it:
 * a write only the old primary had (its write concern timed out, say) is rolled back at a failover,
 * and its version number reused by the next write, which dispatchers would skip as one they hold.
 * Reads before a version-guarded write stay local: the guard needs the latest, and majority reads
 * there would only turn other replicas' fresh writes into retries.
 */
const COMMITTED = 'majority';

/**
 * Events a document keeps waiting for the relay (a Kafka outage): past this the oldest are dropped, so
 * a configuration changed in a loop cannot grow its document to MongoDB's 16 MB limit and refuse every
 * write. Dispatchers apply the stored configuration, never an event's content, so the newest suffice.
 */
export const MAX_PENDING_EVENTS = 1000;

/** A range on the sparse index (every date is at least this), so it reads only documents that have the field. */
const WITH_PENDING_EVENTS = { outbox_pending_since: { $gte: new Date(0) } };

/** The stored fields an admin controls; the repository owns version, timestamps, tombstones and the outbox. */
export interface StoredConfigState {
  enabled: boolean;
  provider: MfaProvider;
  is_custom?: boolean;
  settings: StoredPushSettings;
}

export class ConfigAlreadyExistsError extends Error {}
/** Another write changed the configuration between our read and our write. */
export class ConcurrentModificationError extends Error {}

/**
 * Persistence of push-MFA configurations. Every change writes the new state and its pending
 * configuration-changed event in a single-document update, so one can never exist without the other
 * (FerretDB has no multi-document transactions; single-document writes are atomic everywhere).
 */
@Injectable()
export class MfaConfigRepository {
  /**
   * Every write to a document goes through here, one at a time per document: FerretDB's SQLite backend
   * applies an update as a read and a later write, so two concurrent updates of one document (an
   * admin's change and the relay's or a status report, say) lose one of them, version guard included.
   * MongoDB needs none of this; it costs nothing there. Replicas of the API on FerretDB stay exposed.
   */
  private readonly writes = new KeyedSerializer();

  constructor(@InjectModel(MFA_CONFIG_MODEL) private readonly model: Model<MfaConfigRecord>) {}

  async findLive(tenant: string, type: MfaType): Promise<MfaConfigRecord | null> {
    const record = await this.findAny(tenant, type);
    return record && !record.deleted ? record : null;
  }

  async listLive(
    tenant: string,
    limit: number,
    offset: number,
  ): Promise<{ total: number; results: MfaConfigRecord[] }> {
    // One lookup by primary key per type: a tenant has at most one configuration of each.
    const records = await Promise.all(MFA_TYPES.map((type) => this.findLive(tenant, type)));
    const live = records
      .filter((record): record is MfaConfigRecord => record !== null)
      .sort((a, b) => a.type.localeCompare(b.type));
    return { total: live.length, results: live.slice(offset, offset + limit) };
  }

  /** Every live configuration, for a dispatcher's start-up load and periodic resync (committed only). */
  async findAllLive(): Promise<MfaConfigRecord[]> {
    return this.model.find({ deleted: false }).readConcern(COMMITTED).lean<MfaConfigRecord[]>().exec();
  }

  /**
   * The ids of the live configurations holding a secret sealed with another key than `currentKeyId` (a
   * scan either way, without an index on key ids; the documents are then read one by one).
   */
  async findSealedWithOtherKeys(currentKeyId: string): Promise<{ _id: string }[]> {
    const otherKey = { $exists: true, $ne: currentKeyId };
    return this.model
      .find(
        {
          deleted: false,
          $or: [{ 'settings.apns.key.kid': otherKey }, { 'settings.fcm.private_key.kid': otherKey }],
        },
        { _id: 1 },
      )
      .lean<{ _id: string }[]>()
      .exec();
  }

  /** A live configuration by its document id, whatever scheme made the id (older ones were not tenant/type). */
  async findLiveById(id: string): Promise<MfaConfigRecord | null> {
    const record = await this.model.findOne({ _id: id }).lean<MfaConfigRecord>().exec();
    return record && !record.deleted ? record : null;
  }

  /**
   * Replaces the settings with the same settings sealed again (a key rotation), if the configuration is
   * still at the version read. No new version and no event: what the configuration says has not
   * changed. False when it changed meanwhile. (On FerretDB, a write of another replica at the same
   * moment can still be lost: see `writes`.)
   */
  async replaceSealedSettings(current: MfaConfigRecord, settings: StoredPushSettings): Promise<boolean> {
    return this.writes.run(configRecordId(current.tenant, current.type), async () => {
      const result = await this.model
        .updateOne({ _id: current._id, version: current.version, deleted: false }, { $set: { settings } })
        .exec();
      return result.matchedCount === 1;
    });
  }

  /**
   * The current version of a configuration, or undefined when it never existed (tombstones count).
   * `committed`: only what a majority of a replica set holds, for what is published or applied from it
   * (the relay, the dispatchers); a read before a version-guarded write takes the latest.
   */
  async findAny(tenant: string, type: MfaType, { committed = false } = {}): Promise<MfaConfigRecord | null> {
    // Only the _id in the filter: FerretDB looks that up directly and scans for anything more.
    const record = await this.model
      .findOne({ _id: configRecordId(tenant, type) })
      .readConcern(committed ? COMMITTED : 'local')
      .lean<MfaConfigRecord>()
      .exec();
    return record && record.tenant === tenant && record.type === type ? record : null;
  }

  async create(
    tenant: string,
    type: MfaType,
    state: StoredConfigState,
    now = new Date(),
  ): Promise<MfaConfigRecord> {
    return this.writes.run(configRecordId(tenant, type), () => this.insertOrRevive(tenant, type, state, now));
  }

  private async insertOrRevive(
    tenant: string,
    type: MfaType,
    state: StoredConfigState,
    now: Date,
  ): Promise<MfaConfigRecord> {
    const existing = await this.findAny(tenant, type);
    if (existing && !existing.deleted) throw new ConfigAlreadyExistsError();
    if (existing) {
      // Re-creating after a delete continues the version sequence, so consumers never see it go back.
      try {
        return await this.writeNextNow(existing, { state, createdAt: now }, 'created', now);
      } catch (error) {
        // Only a create moves a deleted configuration's version: another replica's came first.
        if (error instanceof ConcurrentModificationError) throw new ConfigAlreadyExistsError();
        throw error;
      }
    }
    const record = newConfigRecord(tenant, type, state, now);
    try {
      await this.model.create(record);
    } catch (error) {
      if (error instanceof mongo.MongoServerError && error.code === 11000)
        throw new ConfigAlreadyExistsError();
      throw error;
    }
    return record;
  }

  async update(
    current: MfaConfigRecord,
    state: StoredConfigState,
    now = new Date(),
  ): Promise<MfaConfigRecord> {
    return this.writeNext(current, { state }, 'updated', now);
  }

  /**
   * The next version, computed from the live configuration read inside this document's write queue,
   * so this process's writes of one configuration never race (each PATCH merges into what the one
   * before it wrote). Null when there is no live configuration. A write of another process in between
   * still fails the version guard (ConcurrentModificationError). `nextState` returns undefined when
   * the change leaves the configuration as it is: nothing is written, and the current record returned.
   */
  async updateLatest(
    tenant: string,
    type: MfaType,
    nextState: (current: MfaConfigRecord) => StoredConfigState | undefined,
    now = new Date(),
  ): Promise<MfaConfigRecord | null> {
    return this.writes.run(configRecordId(tenant, type), async () => {
      const current = await this.findLive(tenant, type);
      if (!current) return null;
      const state = nextState(current);
      return state ? this.writeNextNow(current, { state }, 'updated', now) : current;
    });
  }

  /**
   * Deletes the live configuration as it is now (see updateLatest); null when there is none.
   * `deleting` sees the configuration the delete applies to (for the audit trail).
   */
  async deleteLatest(
    tenant: string,
    type: MfaType,
    deleting: (current: MfaConfigRecord) => void = () => undefined,
    now = new Date(),
  ): Promise<MfaConfigRecord | null> {
    return this.writes.run(configRecordId(tenant, type), async () => {
      const current = await this.findLive(tenant, type);
      if (!current) return null;
      deleting(current);
      return this.writeNextNow(current, {}, 'deleted', now);
    });
  }

  async delete(current: MfaConfigRecord, now = new Date()): Promise<MfaConfigRecord> {
    return this.writeNext(current, {}, 'deleted', now);
  }

  /** Documents whose events the relay has not published yet, those waiting longest first (committed only). */
  async findWithPendingEvents(limit: number): Promise<MfaConfigRecord[]> {
    return this.model
      .find(WITH_PENDING_EVENTS)
      .readConcern(COMMITTED)
      .sort({ outbox_pending_since: 1 })
      .limit(limit)
      .lean<MfaConfigRecord[]>()
      .exec();
  }

  /**
   * Documents with pending events but no outbox_pending_since: written by a version that did not set
   * it. A scan of the whole collection: the relay runs it at start and then only every few minutes.
   */
  async findWithUnindexedPendingEvents(limit: number): Promise<MfaConfigRecord[]> {
    return this.model
      .find({ 'pending_events.0': { $exists: true }, outbox_pending_since: { $exists: false } })
      .readConcern(COMMITTED)
      .limit(limit)
      .lean<MfaConfigRecord[]>()
      .exec();
  }

  /** The outbox backlog: documents with events not yet published. */
  async countWithPendingEvents(): Promise<number> {
    return this.model.countDocuments(WITH_PENDING_EVENTS).exec();
  }

  /**
   * Removes published events from the document. A read, then a write guarded by the version (every
   * change bumps it), rather than `$pull` with a condition: FerretDB accepts that and silently removes
   * nothing, which would republish every event forever. `read` is the document as the caller read it:
   * the first try writes against it, and only a changed document is read again. Returns whether the
   * events are gone.
   */
  async markEventsPublished(read: MfaConfigRecord, eventIds: string[]): Promise<boolean> {
    return this.writes.run(configRecordId(read.tenant, read.type), () => this.removeEvents(read, eventIds));
  }

  private async removeEvents(read: MfaConfigRecord, eventIds: string[]): Promise<boolean> {
    const { tenant, type } = read;
    const published = new Set(eventIds);
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = attempt === 0 ? read : await this.findAny(tenant, type);
      // Not found by its id (a document stored before ids were tenant/type): its events stay.
      if (!current) return false;
      const remaining = current.pending_events.filter((event) => !published.has(event.event_id));
      // The relay's index must not keep a document that has nothing left to publish.
      const emptied = remaining.length === 0 && current.outbox_pending_since !== undefined;
      if (remaining.length === current.pending_events.length && !emptied) return true;
      const result = await this.model
        .updateOne(
          { _id: configRecordId(tenant, type), version: current.version },
          remaining.length
            ? { $set: { pending_events: remaining } }
            : { $set: { pending_events: [] }, $unset: { outbox_pending_since: '' } },
        )
        .exec();
      if (result.modifiedCount === 1) return true;
    }
    // A configuration changing this fast keeps its events for the next pass; consumers ignore repeats.
    return false;
  }

  /**
   * Records the dispatcher's report, ignoring reports about versions older than the one already shown,
   * and about versions before the configuration was last created (a report late from before a delete
   * would otherwise stand as the status of the configuration created again).
   */
  async recordAppliedStatus(tenant: string, type: MfaType, status: AppliedStatus): Promise<void> {
    const atMost = { $lte: status.version };
    await this.writes.run(configRecordId(tenant, type), () =>
      this.model
        .updateOne(
          {
            _id: configRecordId(tenant, type),
            $and: [
              { $or: [{ status: { $exists: false } }, { 'status.version': atMost }] },
              { $or: [{ created_version: { $exists: false } }, { created_version: atMost }] },
            ],
          },
          { $set: { status } },
        )
        .exec(),
    );
  }

  /**
   * Writes the next version only if nobody else wrote since `current` was read (optimistic locking
   * on the version), replacing the admin-controlled state whole; the pending event rides in the same update.
   */
  private writeNext(
    current: MfaConfigRecord,
    next: { state?: StoredConfigState; createdAt?: Date },
    change: ConfigChange,
    now: Date,
  ): Promise<MfaConfigRecord> {
    return this.writes.run(configRecordId(current.tenant, current.type), () =>
      this.writeNextNow(current, next, change, now),
    );
  }

  private async writeNextNow(
    current: MfaConfigRecord,
    next: { state?: StoredConfigState; createdAt?: Date },
    change: ConfigChange,
    now: Date,
  ): Promise<MfaConfigRecord> {
    const version = current.version + 1;
    const event = pendingEvent(version, change, now);
    const $set: Partial<MfaConfigRecord> = {
      ...withoutUndefined(next.state ?? {}),
      deleted: next.state === undefined,
      version,
      updated_at: now,
      ...(next.createdAt ? { created_at: next.createdAt, created_version: version } : {}),
      // Events already waiting keep their place in the relay's queue.
      outbox_pending_since: (current.pending_events.length > 0 && current.outbox_pending_since) || now,
    };
    const cleared: (keyof MfaConfigRecord)[] = [];
    if (next.state?.is_custom === undefined) cleared.push('is_custom');
    if (next.state === undefined) cleared.push('settings');
    // A status reported for an earlier life of the configuration no longer says anything.
    if (change !== 'updated') cleared.push('status');
    const $unset = Object.fromEntries(cleared.map((field) => [field, '']));
    const kept = current.pending_events.slice(-(MAX_PENDING_EVENTS - 1));
    const pending_events = [...kept, event];
    // Past the bound the whole list is set, guarded on its length too: the relay removes what it
    // published without a new version, and those events must not come back.
    const trimmed = kept.length < current.pending_events.length;
    const append = trimmed
      ? { $set: { ...$set, pending_events } }
      : { $set, $push: { pending_events: event } };
    const result = await this.model
      .updateOne(
        {
          _id: configRecordId(current.tenant, current.type),
          version: current.version,
          ...(trimmed && { pending_events: { $size: current.pending_events.length } }),
        },
        { ...append, ...(cleared.length ? { $unset } : {}) },
      )
      .exec();
    if (result.matchedCount === 0) throw new ConcurrentModificationError();
    const written = { ...current, ...$set, pending_events };
    for (const field of cleared) delete written[field];
    return written;
  }
}

/** A configuration's first version, its created event pending in the outbox: what `create` inserts. */
export function newConfigRecord(
  tenant: string,
  type: MfaType,
  state: StoredConfigState,
  now = new Date(),
): MfaConfigRecord {
  return {
    _id: configRecordId(tenant, type),
    tenant,
    type,
    ...(withoutUndefined(state) as StoredConfigState),
    version: 1,
    created_version: 1,
    deleted: false,
    created_at: now,
    updated_at: now,
    pending_events: [pendingEvent(1, 'created', now)],
    outbox_pending_since: now,
  };
}

function pendingEvent(version: number, change: ConfigChange, now: Date): PendingConfigEvent {
  return { event_id: randomUUID(), version, change, occurred_at: now };
}
