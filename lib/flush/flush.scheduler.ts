import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { BufferStorage } from '../storage/buffer-storage.interface.js';
import {
  WRITE_BUFFER_RESOLVED_OPTIONS,
  type ResolvedWriteBufferOptions,
} from '../write-buffer-options.resolver.js';
import { WRITE_BUFFER_FLUSH_JOB } from '../write-buffer.constants.js';
import { FlushCoordinator } from './flush-coordinator.js';
import type { FlushReport } from './flush-report.interface.js';

/**
 * Runs the periodic flush and the final flush at shutdown. The cron job is
 * registered in `@nestjs/schedule`'s `SchedulerRegistry` when the app
 * imports `ScheduleModule.forRoot()`; without it, the job runs all the same.
 */
@Injectable()
export class FlushScheduler
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger('WriteBuffer');
  private job?: CronJob;
  private running = false;

  constructor(
    @Inject(WRITE_BUFFER_RESOLVED_OPTIONS) private readonly options: ResolvedWriteBufferOptions,
    private readonly coordinator: FlushCoordinator,
    @Inject(BufferStorage) private readonly storage: BufferStorage,
    @Optional() private readonly registry?: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    const cron = this.options.flush.cron;
    if (cron === false) return;
    this.job = CronJob.from({ cronTime: cron, onTick: () => this.tick() });
    this.registry?.addCronJob(WRITE_BUFFER_FLUSH_JOB, this.job);
    this.job.start();
  }

  /** One scheduled run; skipped while the previous one is still flushing. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.coordinator.flushDue();
    } catch (error) {
      // Transient failures are logged once per state change by the flusher.
      this.logger.debug(`Scheduled flush failed: ${(error as Error).message}`);
    } finally {
      this.running = false;
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.job) {
      await this.job.stop();
      if (this.registry?.doesExist('cron', WRITE_BUFFER_FLUSH_JOB)) {
        this.registry.deleteCronJob(WRITE_BUFFER_FLUSH_JOB);
      }
    }
    if (!this.options.flush.onShutdown) return;
    const timeout = this.options.flush.shutdownTimeout;
    let timer: NodeJS.Timeout | undefined;
    const flush = this.coordinator.flush();
    const expired = new Promise<Error>((resolve) => {
      timer = setTimeout(
        () =>
          resolve(
            new Error(
              `it did not finish within ${timeout} ms (flush.shutdownTimeout); shutdown goes on without it.`,
            ),
          ),
        timeout,
      );
    });
    try {
      const done = await Promise.race([flush, expired]);
      if (!(done instanceof Error)) {
        this.logger.log(describeFinalFlush(done));
        return;
      }
      // Whatever the abandoned flush does next is logged, never thrown.
      flush.catch((error: unknown) =>
        this.logger.debug(`Abandoned final flush ended: ${(error as Error).message}`),
      );
      throw done;
    } catch (error) {
      this.logger.error(
        `FINAL FLUSH FAILED at shutdown: ${(error as Error).message} ` +
          `Still buffered: ${await this.unflushed()}. ${this.fate()}`,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** What is not in the database yet: pending entries and those of claimed batches. */
  private async unflushed(): Promise<string> {
    const { pending, inFlightBatches } = await this.coordinator.stats();
    const held = { ...pending };
    try {
      for (const name of this.options.dataSources) {
        for (const batch of await this.storage.inFlight(name)) {
          for (const part of batch.tables) {
            held.inserts += part.inserts.length;
            held.updates += part.updates.length;
            for (const [, deltas] of part.counters) held.counters += Object.keys(deltas).length;
          }
        }
      }
    } catch {
      // The storage cannot list them now: the pending counts and the batch count remain.
    }
    return (
      `${held.counters} counter(s), ${held.updates} updated row(s), ${held.inserts} insert(s), ` +
      `${inFlightBatches} in-flight batch(es) among them`
    );
  }

  /** What becomes of unflushed writes when this process exits. */
  private fate(): string {
    const storage = this.options.storage;
    if (storage.type === 'memory' && !storage.journal) {
      return 'The memory storage has no journal: these writes are LOST when the process exits.';
    }
    if (storage.type === 'memory')
      return 'They stay in the journal and are applied after the next start.';
    if (storage.type === 'redis')
      return 'They stay in Redis and are applied by the next flush of any instance.';
    return 'They stay in the storage.';
  }

  async onApplicationShutdown(): Promise<void> {
    await this.storage.close();
  }
}

/** The line shutdown logs once the final flush is done. */
function describeFinalFlush(report: FlushReport): string {
  if (report.batches + report.skippedBatches === 0) {
    return 'Final flush at shutdown: nothing was pending.';
  }
  return (
    `Final flush at shutdown: ${report.batches} batch(es) applied in ${report.durationMs} ms ` +
    `(${report.inserted} row(s) inserted, ${report.updated} updated, ${report.incremented} incremented` +
    (report.missing.length ? `, ${report.missing.length} missing row(s)` : '') +
    (report.deadLettered ? `, ${report.deadLettered} dead-lettered` : '') +
    ').'
  );
}
