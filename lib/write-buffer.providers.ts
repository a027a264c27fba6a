import type { Provider } from '@nestjs/common';
import { BufferReader } from './buffer-reader.js';
import { BufferService } from './buffer.service.js';
import { BufferedDataSources } from './buffered-data-sources.js';
import { DeadLetterStore } from './dead-letter-store.js';
import { RowDiscarder } from './row-discarder.js';
import { RowOverlay } from './row-overlay.js';
import { FlushCoordinator } from './flush/flush-coordinator.js';
import { FlushScheduler } from './flush/flush.scheduler.js';
import { BufferedCounterInterceptor } from './interceptors/buffered-counter.interceptor.js';
import { BufferStorage } from './storage/buffer-storage.interface.js';
import { createStorage } from './storage/create-storage.js';
import { WriteAdmission } from './write-admission.js';
import type { WriteBufferModuleOptions } from './write-buffer-options.interface.js';
import {
  resolveWriteBufferOptions,
  WRITE_BUFFER_RESOLVED_OPTIONS,
  type ResolvedWriteBufferOptions,
} from './write-buffer-options.resolver.js';
import { WRITE_BUFFER_MODULE_OPTIONS } from './write-buffer.module-definition.js';
import { WriteTally } from './write-tally.js';
import { writeBufferTelemetryProvider } from './telemetry/write-buffer.telemetry.js';

/**
 * The providers of `WriteBufferModule`: the options, validated once; the
 * storage they describe; and the parts `BufferService` delegates to.
 */
export const writeBufferProviders: Provider[] = [
  {
    provide: WRITE_BUFFER_RESOLVED_OPTIONS,
    inject: [WRITE_BUFFER_MODULE_OPTIONS],
    useFactory: (options: WriteBufferModuleOptions) => resolveWriteBufferOptions(options),
  },
  {
    provide: BufferStorage,
    inject: [WRITE_BUFFER_RESOLVED_OPTIONS],
    useFactory: (options: ResolvedWriteBufferOptions) => createStorage(options.storage),
  },
  writeBufferTelemetryProvider,
  BufferedDataSources,
  WriteTally,
  FlushCoordinator,
  WriteAdmission,
  BufferReader,
  RowOverlay,
  DeadLetterStore,
  RowDiscarder,
  BufferService,
  FlushScheduler,
  BufferedCounterInterceptor,
];
