import 'reflect-metadata';
import cluster from 'node:cluster';
import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { runPrimary } from './cluster.js';

async function bootstrap() {
  const app = await NestFactory.create(AppModule);
  // SIGINT/SIGTERM close the app: the write buffer's final flush runs before TypeORM disconnects.
  app.enableShutdownHooks();
  const port = Number(app.get(ConfigService).get<string>('PORT') ?? 3000);
  await app.listen(port, '127.0.0.1');
  const who = cluster.isWorker ? `Worker ${process.pid}` : 'Listening';
  new Logger('SampleApp').log(`${who} on http://127.0.0.1:${port}`);
}

// WORKERS=<n>: a node:cluster primary forks n workers on one port, sharing the lmdb storage.
const workers = Number(process.env.WORKERS ?? 0);
if (workers > 0 && cluster.isPrimary) runPrimary(workers);
else void bootstrap();
