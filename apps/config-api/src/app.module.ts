import { Module } from '@nestjs/common';
import { AppConfigModule } from '@lib/config';
import { HealthController } from './health/health.controller';

@Module({
  imports: [AppConfigModule.forRoot()],
  controllers: [HealthController],
})
export class AppModule {}
