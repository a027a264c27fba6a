import { Module } from '@nestjs/common';
import { BufferService } from './buffer.service.js';
import { BufferedCounterInterceptor } from './interceptors/buffered-counter.interceptor.js';
import { BufferStorage } from './storage/buffer-storage.interface.js';
import { writeBufferProviders } from './write-buffer.providers.js';
import { ConfigurableModuleClass } from './write-buffer.module-definition.js';

/**
 * Buffers hot writes and flushes them through TypeORM.
 *
 * ```ts
 * WriteBufferModule.forRoot({ flush: { cron: '*\/5 * * * * *' } })
 * WriteBufferModule.forRootAsync({ inject: [ConfigService], useFactory: (config) => ({ ... }) })
 * WriteBufferModule.forRootAsync({ useClass: WriteBufferConfig }) // implements WriteBufferOptionsFactory
 * ```
 * Pass `isGlobal: true` to use `BufferService` and `@BufferedCounter()`
 * in every module without importing this one again. The options are
 * validated at start: a value that cannot work fails start-up with a
 * `WriteBufferConfigError` naming it.
 * @publicApi
 */
@Module({
  providers: writeBufferProviders,
  exports: [BufferService, BufferedCounterInterceptor, BufferStorage],
})
export class WriteBufferModule extends ConfigurableModuleClass {}
