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
import { BufferService } from '../buffer.service.js';
import { BufferStorage } from '../storage/buffer-storage.interface.js';
import type { WriteBufferModuleOptions } from '../write-buffer-options.interface.js';
import { WRITE_BUFFER_MODULE_OPTIONS } from '../write-buffer.module-definition.js';
import { DEFAULT_FLUSH_CRON, WRITE_BUFFER_FLUSH_JOB } from '../write-buffer.constants.js';

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
    @Inject(WRITE_BUFFER_MODULE_OPTIONS) private readonly options: WriteBufferModuleOptions,
    private readonly buffer: BufferService,
    @Inject(BufferStorage) private readonly storage: BufferStorage,
    @Optional() private readonly registry?: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    const cron = this.options.flush?.cron ?? DEFAULT_FLUSH_CRON;
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
      await this.buffer.flushDue();
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
    if (this.options.flush?.onShutdown === false) return;
    try {
      await this.buffer.flush();
    } catch (error) {
      const { pending, inFlightBatches } = await this.buffer.stats();
      this.logger.error(
        `FINAL FLUSH FAILED at shutdown: ${(error as Error).message} ` +
          `Still buffered: ${pending.counters} counter(s), ${pending.updates} updated row(s), ${pending.inserts} insert(s), ` +
          `${inFlightBatches} in-flight batch(es). ${this.fate()}`,
      );
    }
  }

  /** What becomes of unflushed writes when this process exits. */
  private fate(): string {
    const storage = this.options.storage ?? { type: 'memory' };
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
