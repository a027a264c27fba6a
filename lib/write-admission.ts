import { Inject, Injectable, Logger } from '@nestjs/common';
import { BufferFullError } from './errors.js';
import { FlushCoordinator } from './flush/flush-coordinator.js';
import type { BufferTarget, RowKey } from './storage/buffer-batch.interface.js';
import { BufferStorage } from './storage/buffer-storage.interface.js';
import {
  WRITE_BUFFER_RESOLVED_OPTIONS,
  type ResolvedWriteBufferOptions,
} from './write-buffer-options.resolver.js';
import { WriteTally } from './write-tally.js';
import { WriteBufferEvent } from './telemetry/write-buffer.events.js';
import { WriteBufferTelemetry } from './telemetry/write-buffer.telemetry.js';

/**
 * Lets writes into the buffer: enforces `limits.maxPendingEntries` before a
 * write and starts the size-triggered flush (`flush.maxPending`) after it.
 */
@Injectable()
export class WriteAdmission {
  private readonly logger = new Logger('WriteBuffer');
  private readonly limits: ResolvedWriteBufferOptions['limits'];
  private readonly maxPending: number;
  private sizeTriggered = false;

  constructor(
    @Inject(WRITE_BUFFER_RESOLVED_OPTIONS) options: ResolvedWriteBufferOptions,
    @Inject(BufferStorage) private readonly storage: BufferStorage,
    private readonly coordinator: FlushCoordinator,
    private readonly tally: WriteTally,
    private readonly telemetry: WriteBufferTelemetry,
  ) {
    this.limits = options.limits;
    this.maxPending = options.flush.maxPending;
  }

  /**
   * Resolves when there is room for `count` more entries (or at once for an
   * increment of a counter that is already buffered, which adds none); with
   * policy 'flush' it starts a flush and waits (up to `limits.waitTimeout`),
   * with 'reject' it throws at once. Returns nothing to await in the common
   * case (there is room).
   */
  admit(
    count: number,
    target?: BufferTarget,
    key?: RowKey,
    column?: string,
  ): Promise<void> | undefined {
    // Checked first: the common case costs one addition and comparison.
    if (this.pendingEntries() + count <= this.limits.maxPendingEntries) return;
    if (column && this.storage.hasCounter?.(target!, key!, column)) return;
    return this.waitForRoom(count);
  }

  /** `count` writes were buffered: starts a flush once `flush.maxPending` were. */
  wrote(count: number): void {
    this.tally.wrote(count);
    if (this.maxPending > 0 && this.tally.sinceFlush >= this.maxPending && !this.sizeTriggered) {
      this.triggerFlush();
    }
  }

  private async waitForRoom(count: number): Promise<void> {
    if (this.limits.policy === 'flush') {
      const until = Date.now() + this.limits.waitTimeout;
      while (Date.now() < until) {
        if (!this.sizeTriggered) this.triggerFlush();
        await new Promise((resolve) => setTimeout(resolve, 10));
        if (this.pendingEntries() + count <= this.limits.maxPendingEntries) {
          this.telemetry.metrics.full('waited');
          return;
        }
      }
    }
    const pendingEntries = this.pendingEntries();
    this.telemetry.metrics.full('rejected');
    this.telemetry.events.emit(WriteBufferEvent.BufferFull, {
      pendingEntries,
      maxPendingEntries: this.limits.maxPendingEntries,
      policy: this.limits.policy,
    });
    throw BufferFullError.of(pendingEntries, this.limits, this.coordinator.lastError);
  }

  /** Entries held (pending and in flight): exact for storages that count, else this process's unflushed writes. */
  private pendingEntries(): number {
    return this.storage.pendingEntries?.() ?? this.tally.unflushed;
  }

  private triggerFlush() {
    this.sizeTriggered = true;
    this.coordinator
      .flush()
      .catch((error: unknown) =>
        this.logger.debug(`Early flush failed: ${(error as Error).message}`),
      )
      .finally(() => (this.sizeTriggered = false));
  }
}
