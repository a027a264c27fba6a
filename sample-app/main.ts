import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

async function bootstrap() {
  const app = await NestFactory.create(AppModule);
  // SIGINT/SIGTERM close the app: the write buffer's final flush runs before TypeORM disconnects.
  app.enableShutdownHooks();
  const port = Number(app.get(ConfigService).get<string>('PORT') ?? 3000);
  await app.listen(port, '127.0.0.1');
  new Logger('SampleApp').log(`Listening on http://127.0.0.1:${port}`);
}

void bootstrap();
