import { Logger } from '@nestjs/common';
import type { KafkaSettings } from '@lib/config';
import { createKafkaClient } from './kafka-client.factory';

describe('createKafkaClient logging', () => {
  it("logs kafkajs's warnings as warnings, but not the one every idempotent producer of ours starts with", () => {
    const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const kafka = createKafkaClient({ clientId: 'spec', brokers: ['127.0.0.1:1'] } as KafkaSettings);
      kafka.logger().warn('Limiting retries for the idempotent producer may invalidate EoS guarantees', {});
      kafka.logger().warn('Connection timeout', { broker: '127.0.0.1:1' });
      expect(warnings.mock.calls.map(([line]) => String(line))).toEqual([
        expect.stringMatching(/^Connection timeout .*"broker":"127.0.0.1:1"/),
      ]);
    } finally {
      warnings.mockRestore();
    }
  });
});
