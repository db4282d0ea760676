import { resolveTopicNames, topicNameProblems, topicPartitions } from './topics';

describe('resolveTopicNames', () => {
  it('prefixes the default names', () => {
    expect(resolveTopicNames({ topicPrefix: 'staging.' })).toEqual({
      configChanged: 'staging.mfa.config.changed',
      configApplied: 'staging.mfa.config.applied',
      pushRequested: 'staging.mfa.push.requested',
      pushResults: 'staging.mfa.push.results',
      pushDeadLetter: 'staging.mfa.push.requested.dlq',
      pushRetrying: 'staging.mfa.push.retrying',
    });
  });

  it('uses an overridden name as it is, without the prefix', () => {
    const names = resolveTopicNames({
      topicPrefix: 'staging.',
      topicNameOverrides: { pushRequested: 'team-a.mfa-requests' },
    });
    expect(names.pushRequested).toBe('team-a.mfa-requests');
    expect(names.pushResults).toBe('staging.mfa.push.results');
  });
});

describe('topicNameProblems', () => {
  it('accepts the defaults, any valid prefix and valid overrides', () => {
    expect(topicNameProblems({ topicPrefix: '' })).toEqual([]);
    expect(topicNameProblems({ topicPrefix: 'test-1a2b_3C.' })).toEqual([]);
    expect(
      topicNameProblems({ topicPrefix: '', topicNameOverrides: { pushDeadLetter: 'ops.push-dead_letters' } }),
    ).toEqual([]);
  });

  it('refuses names Kafka refuses, naming the variable', () => {
    const problems = topicNameProblems({
      topicPrefix: '',
      topicNameOverrides: {
        configChanged: 'mfa/config',
        configApplied: '..',
        pushResults: 'r'.repeat(250),
      },
    });
    expect(problems).toEqual([
      'KAFKA_TOPIC_CONFIG_CHANGED may contain only letters, digits, ".", "_" and "-" (got "mfa/config")',
      'KAFKA_TOPIC_CONFIG_APPLIED cannot be "..": Kafka refuses it as a topic name',
      'KAFKA_TOPIC_PUSH_RESULTS must be at most 249 characters (got 250)',
    ]);
  });

  it('refuses a prefix that makes invalid names, once, naming the prefix', () => {
    expect(topicNameProblems({ topicPrefix: 'team a/' })).toEqual([
      'KAFKA_TOPIC_PREFIX may contain only letters, digits, ".", "_" and "-" (got "team a/")',
    ]);
    const [tooLong] = topicNameProblems({ topicPrefix: 'p'.repeat(230) });
    expect(tooLong).toMatch(
      /^KAFKA_TOPIC_PREFIX is too long: it makes "p+mfa\.push\.requested\.dlq", 252 characters/,
    );
  });

  it('judges the prefix only by the topics it still names', () => {
    const overridden = {
      configChanged: 'a',
      configApplied: 'b',
      pushRequested: 'c',
      pushResults: 'd',
      pushDeadLetter: 'e',
      pushRetrying: 'f',
    };
    expect(topicNameProblems({ topicPrefix: 'p'.repeat(240), topicNameOverrides: overridden })).toEqual([]);
  });

  it('refuses two topics with one name, naming both sources', () => {
    expect(
      topicNameProblems({ topicPrefix: '', topicNameOverrides: { pushResults: 'mfa.push.requested' } }),
    ).toEqual([
      'KAFKA_TOPIC_PREFIX + "mfa.push.requested" ("mfa.push.requested"), KAFKA_TOPIC_PUSH_RESULTS ("mfa.push.requested") name the same topic: give each topic its own name',
    ]);
  });

  it('refuses names that differ only by "." and "_", which Kafka cannot create side by side', () => {
    const [problem] = topicNameProblems({
      topicPrefix: '',
      topicNameOverrides: { configChanged: 'mfa.events', configApplied: 'mfa_events' },
    });
    expect(problem).toMatch(/KAFKA_TOPIC_CONFIG_CHANGED .* KAFKA_TOPIC_CONFIG_APPLIED .* cannot tell apart/);
  });
});

describe('topicPartitions', () => {
  it('gives results and retries as many partitions as requests, config topics their own count, dead letters one', () => {
    expect(topicPartitions({ pushRequestPartitions: 12, configTopicPartitions: 2 })).toEqual({
      configChanged: 2,
      configApplied: 2,
      pushRequested: 12,
      pushResults: 12,
      pushDeadLetter: 1,
      pushRetrying: 12,
    });
  });
});
