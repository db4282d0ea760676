import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { APP_CONFIG, AppConfig } from '@lib/config';

/** The Mongo connection both apps use, from MONGODB_URI; fails fast instead of hanging when the server is away. */
@Module({
  imports: [
    MongooseModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        uri: config.mongodbUri,
        serverSelectionTimeoutMS: 5000,
        // Index builds are part of start-up, so a missing unique index fails loudly.
        autoIndex: true,
        retryAttempts: 3,
        // Fail at once when the server is away (the API answers 503) instead of queueing for 10 s.
        bufferCommands: false,
        // On a replica set, what the API confirmed survives a failover: a write only the old primary had
        // would be rolled back, and its version number reused by the next write, which the dispatchers
        // would then skip as one they hold (MongoDB's own default is w:1 with an arbiter). Bounded: with
        // a majority away, a write answers 503 "may have been saved" instead of hanging. What the relay
        // publishes and the dispatchers apply is read majority-committed (MfaConfigRepository).
        writeConcern: { w: 'majority', wtimeoutMS: 10_000 },
      }),
    }),
  ],
})
export class MongoModule {}
