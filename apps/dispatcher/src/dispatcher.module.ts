import { Module } from '@nestjs/common';
import { AppConfigModule } from '@lib/config';

@Module({ imports: [AppConfigModule.forRoot()] })
export class DispatcherModule {}
