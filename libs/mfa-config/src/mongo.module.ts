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
      }),
    }),
  ],
})
export class MongoModule {}
