import { DynamicModule, MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { AppConfig, AppConfigModule } from '@lib/config';
import { MfaConfigModule, MongoModule } from '@lib/mfa-config';
import { AuthModule } from './auth/auth.module';
import { HealthController } from './health/health.controller';
import { RateLimitMiddleware } from './http/rate-limit.middleware';
import { RequestLogMiddleware } from './http/request-log.middleware';
import { KeyRotationModule } from './key-rotation/key-rotation.module';
import { ApiMetrics } from './metrics/api-metrics';
import { HttpMetricsMiddleware } from './metrics/http-metrics.middleware';
import { MetricsController } from './metrics/metrics.controller';
import { MfaModule } from './mfa/mfa.module';

@Module({})
export class AppModule implements NestModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        MongoModule,
        MfaConfigModule,
        AuthModule,
        MfaModule,
        KeyRotationModule,
      ],
      controllers: [HealthController, MetricsController],
      providers: [ApiMetrics],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequestLogMiddleware, HttpMetricsMiddleware, RateLimitMiddleware).forRoutes('*path');
  }
}
