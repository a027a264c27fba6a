import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { BufferService } from './buffer.service.js';
import { BufferedCounterInterceptor } from './interceptors/buffered-counter.interceptor.js';
import { WriteBufferFeature } from './metadata/entity-settings.js';
import { BufferStorage } from './storage/buffer-storage.interface.js';
import type { WriteBufferEntityOptions } from './write-buffer-options.interface.js';
import { writeBufferProviders } from './write-buffer.providers.js';
import { ConfigurableModuleClass } from './write-buffer.module-definition.js';

/**
 * Buffers hot writes and flushes them through TypeORM.
 *
 * ```ts
 * WriteBufferModule.forRoot({ flush: { cron: '*\/5 * * * * *' } })
 * WriteBufferModule.forRootAsync({ inject: [ConfigService], useFactory: (config) => ({ ... }) })
 * WriteBufferModule.forRootAsync({ useClass: WriteBufferConfig }) // implements WriteBufferOptionsFactory
 * WriteBufferModule.forFeature([{ entity: PageView, onMissingRow: 'drop' }]) // in any module
 * ```
 * Pass `isGlobal: true` to use `BufferService` and `@BufferedCounter()`
 * in every module without importing this one again. The options are
 * validated at start: a value that cannot work fails start-up with a
 * `WriteBufferConfigError` naming it.
 * @publicApi
 */
@Module({
  imports: [DiscoveryModule],
  providers: writeBufferProviders,
  exports: [BufferService, BufferedCounterInterceptor, BufferStorage],
})
export class WriteBufferModule extends ConfigurableModuleClass {
  /**
   * Registers settings of some entities, over the module's options, from
   * any module of the app (as `TypeOrmModule.forFeature()` registers
   * repositories). They are checked at start: an entity no data source
   * has, an option it does not take or a value that cannot work fails
   * start-up with an error naming it.
   *
   * ```ts
   * @Module({ imports: [WriteBufferModule.forFeature([{ entity: PageView, onMissingRow: 'drop' }])] })
   * export class StatsModule {}
   * ```
   */
  static forFeature(entities: WriteBufferEntityOptions[]): DynamicModule {
    return {
      module: WriteBufferFeatureModule,
      providers: [
        { provide: Symbol('WriteBufferFeature'), useValue: new WriteBufferFeature(entities) },
      ],
    };
  }
}

/** The module `WriteBufferModule.forFeature()` returns: it only carries settings. */
@Module({})
class WriteBufferFeatureModule {}
