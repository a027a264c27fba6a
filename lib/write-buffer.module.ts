import { Module } from '@nestjs/common';
import { BufferService } from './buffer.service.js';
import { FlushScheduler } from './flush/flush.scheduler.js';
import { BufferedCounterInterceptor } from './interceptors/buffered-counter.interceptor.js';
import { BufferStorage } from './storage/buffer-storage.interface.js';
import { createStorage } from './storage/create-storage.js';
import type { WriteBufferModuleOptions } from './write-buffer-options.interface.js';
import {
  ConfigurableModuleClass,
  WRITE_BUFFER_MODULE_OPTIONS,
} from './write-buffer.module-definition.js';

/**
 * Buffers hot writes and flushes them through TypeORM.
 *
 * ```ts
 * WriteBufferModule.forRoot({ flush: { cron: '*\/5 * * * * *' } })
 * WriteBufferModule.forRootAsync({ inject: [ConfigService], useFactory: (config) => ({ ... }) })
 * ```
 * Pass `isGlobal: true` to use `BufferService` and `@BufferedCounter()`
 * in every module without importing this one again.
 */
@Module({
  providers: [
    {
      provide: BufferStorage,
      inject: [WRITE_BUFFER_MODULE_OPTIONS],
      useFactory: (options: WriteBufferModuleOptions) => createStorage(options.storage),
    },
    BufferService,
    FlushScheduler,
    BufferedCounterInterceptor,
  ],
  exports: [BufferService, BufferedCounterInterceptor, BufferStorage],
})
export class WriteBufferModule extends ConfigurableModuleClass {}
