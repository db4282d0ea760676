import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { KafkaMessage } from 'kafkajs';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { resolveTopicNames } from '@lib/contracts';
import { ChallengeLedger } from '../challenges/challenge-ledger';
import { parkedState } from '../challenges/parked-request';
import { RecentRecordsFollower } from './recent-records.follower';

/** The header of a result, or of a parked request, that names the request it stems from (`topic/partition@offset`). */
export const REQUEST_POSITION_HEADER = 'request-position';

/**
 * Tells the ledger which challenges have a result (mfa.push.results) and which were handed to
 * mfa.push.retrying, by any replica, so that a redelivered request is neither pushed nor answered a
 * second time. Push requests are consumed only once both were read from their recent past (`caughtUp`).
 */
@Injectable()
export class PublishedResultsFollower implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly followers: RecentRecordsFollower[];
  private readonly results: RecentRecordsFollower;
  readonly caughtUp: Promise<void>;

  constructor(@Inject(APP_CONFIG) config: AppConfig, ledger: ChallengeLedger) {
    const topics = resolveTopicNames(config.kafka);
    this.results = new RecentRecordsFollower(
      config,
      topics.pushResults,
      'results',
      'results',
      ({ message }) => {
        const challengeId = message.key?.toString();
        if (challengeId) ledger.learn(challengeId, positionOf(message));
      },
    );
    this.followers = [
      this.results,
      new RecentRecordsFollower(config, topics.pushRetrying, 'parked', 'parked requests', ({ message }) => {
        const challengeId = message.key?.toString();
        const parked = parkedState(message.headers);
        if (challengeId && parked) ledger.learnParked(challengeId, parked.position, parked.attempts);
      }),
    ];
    this.caughtUp = Promise.all(this.followers.map((follower) => follower.caughtUp)).then(() => undefined);
  }

  /**
   * Resolves once the ledger learnt every result published up to now (false if that took too long):
   * a publish that failed may have been written all the same, and is then not published again.
   */
  resultsReadToNow(): Promise<boolean> {
    return this.results.readToNow();
  }

  async onApplicationBootstrap(): Promise<void> {
    await Promise.all(this.followers.map((follower) => follower.start()));
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.followers.map((follower) => follower.stop()));
  }
}

function positionOf(message: KafkaMessage): string | null {
  return message.headers?.[REQUEST_POSITION_HEADER]?.toString() ?? null;
}
