import { mongo } from 'mongoose';

/**
 * A write the store refused for now, not for good: FerretDB's SQLite backend answers "database is
 * locked" when writers pile up; MongoDB labels its transient write conflicts.
 */
export function isStoreBusy(exception: unknown): boolean {
  if (!(exception instanceof mongo.MongoServerError)) return false;
  return (
    /database is locked|SQLITE_BUSY/.test(exception.message) ||
    exception.code === 112 || // WriteConflict
    exception.hasErrorLabel('TransientTransactionError') ||
    exception.hasErrorLabel('RetryableWriteError')
  );
}

/**
 * A write that reached the store, or may have: the connection broke with it sent, or the server
 * failed it with a label that lets the driver retry it (retryable writes, MongoDB replica sets). A
 * server selection error is taken as "nothing sent", which it is unless the driver's retry of a write
 * that did land could not find a server either: the driver throws the same error then.
 */
export function mayHaveWritten(exception: unknown): boolean {
  return (
    exception instanceof mongo.MongoNetworkError ||
    // Applied on the primary, not yet confirmed by enough of the replica set.
    exception instanceof mongo.MongoWriteConcernError ||
    (exception instanceof mongo.MongoServerError && exception.code === WRITE_CONCERN_FAILED) ||
    (exception instanceof mongo.MongoError && exception.hasErrorLabel('RetryableWriteError'))
  );
}

const WRITE_CONCERN_FAILED = 64;
/**
 * MongoDB's answers while a replica set elects a primary or a member shuts down: the request was
 * refused, and a retry in a few seconds finds the new primary. The driver retries a read once; a
 * second election error reaches us.
 */
const STORE_AWAY_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

export function isStoreUnavailable(exception: unknown): boolean {
  return (
    exception instanceof mongo.MongoServerSelectionError ||
    exception instanceof mongo.MongoNetworkError ||
    exception instanceof mongo.MongoNotConnectedError ||
    (exception instanceof mongo.MongoServerError && STORE_AWAY_CODES.has(Number(exception.code))) ||
    (exception instanceof Error &&
      (exception.name === 'MongooseServerSelectionError' ||
        /buffering timed out|not connected/i.test(exception.message)))
  );
}
