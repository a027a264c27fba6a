import cluster, { type Worker } from 'node:cluster';
import { Logger } from '@nestjs/common';

/**
 * The `node:cluster` primary of `WORKERS=<n> npm start`: forks `n` workers
 * listening on one port. The first worker starts alone (it creates and
 * seeds the tables); the others follow once it listens. A worker that dies
 * is replaced; SIGTERM or SIGINT stops every worker gracefully (each runs
 * its final flush) and then the primary.
 */
export function runPrimary(workers: number) {
  const logger = new Logger('SampleApp');
  let stopping = false;
  const fork = () => {
    const worker = cluster.fork();
    worker.once('exit', (code, signal) => {
      if (stopping) return;
      logger.warn(`Worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
      fork();
    });
    return worker;
  };
  fork().once('listening', () => {
    for (let i = 1; i < workers; i++) fork();
  });
  logger.log(`Primary ${process.pid}: ${workers} workers sharing one buffer`);
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const running = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    let left = running.length;
    if (left === 0) process.exit(0);
    for (const worker of running) {
      worker.once('exit', () => --left === 0 && process.exit(0));
      worker.process.kill(signal);
    }
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGTERM'));
}
