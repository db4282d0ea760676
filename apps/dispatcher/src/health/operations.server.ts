import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Admin } from 'kafkajs';
import type { Connection } from 'mongoose';
import { APP_CONFIG, AppConfig } from '@lib/config';
import { createKafkaClient } from '@lib/kafka';
import { kafkaCheck, mongoCheck, readiness } from '@lib/runtime';
import { LiveClientRegistry } from '../config-sync/live-client-registry';
import { DispatcherMetrics } from '../metrics/dispatcher-metrics';

/** The dispatcher has no API: a small HTTP port answers liveness, readiness and metrics scrapes. */
@Injectable()
export class OperationsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OperationsServer.name);
  private readonly admin: Admin;
  private readonly server: Server;
  private configsLoaded = false;
  private started = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectConnection() connection: Connection,
    registry: LiveClientRegistry,
    metrics: DispatcherMetrics,
  ) {
    void registry.ready.then(() => (this.configsLoaded = true));
    this.admin = createKafkaClient(config.kafka, '-health').admin();
    const checks = {
      mongo: mongoCheck(connection),
      kafka: kafkaCheck(this.admin),
      configs: async () => {
        if (!this.configsLoaded) throw new Error('configurations not loaded yet');
      },
      started: async () => {
        if (!this.started) throw new Error('still starting');
      },
    };
    this.server = createServer((request, response) => {
      const answer = (status: number, body: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      };
      if (request.url === '/health/live') return answer(200, { status: 'ok' });
      if (request.url === '/metrics')
        return void metrics.registry.metrics().then(
          (text) => {
            response.writeHead(200, { 'content-type': metrics.registry.contentType });
            response.end(text);
          },
          (error: Error) =>
            answer(500, { status: 500, error: 'metrics_failed', error_description: error.message }),
        );
      if (request.url === '/health/ready')
        // Red without the database too, so operators see it, though the dispatcher goes on sending with
        // the clients it holds (readiness takes no traffic away from a worker).
        return void readiness(checks).then((result) => answer(result.ready ? 200 : 503, result));
      answer(404, {
        status: 404,
        error: 'not_found',
        error_description: 'GET /health/live, /health/ready or /metrics',
      });
    });
  }

  /** Every part of the app has started (startDispatcherApp): until then it is not ready. */
  markStarted(): void {
    this.started = true;
  }

  /** The port actually bound (DISPATCHER_PORT=0 picks a free one). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async onApplicationBootstrap(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.server.listen(this.config.dispatcher.httpPort, '0.0.0.0', resolve),
    );
    this.logger.log(`health on :${this.port}/health/ready`);
  }

  async onApplicationShutdown(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
    await this.admin.disconnect().catch(() => undefined);
  }
}
