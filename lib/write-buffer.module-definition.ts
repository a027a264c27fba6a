import { ConfigurableModuleBuilder, type ConfigurableModuleAsyncOptions } from '@nestjs/common';
import type { WriteBufferModuleOptions } from './write-buffer-options.interface.js';

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: WRITE_BUFFER_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<WriteBufferModuleOptions>()
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createWriteBufferOptions')
  .setExtras({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();

/**
 * A class that makes the module's options, for
 * `WriteBufferModule.forRootAsync({ useClass })` or `{ useExisting }`.
 *
 * ```ts
 * @Injectable()
 * class WriteBufferConfig implements WriteBufferOptionsFactory {
 *   constructor(private readonly config: ConfigService) {}
 *   createWriteBufferOptions(): WriteBufferModuleOptions {
 *     return { storage: { type: 'redis', url: this.config.getOrThrow('REDIS_URL') } };
 *   }
 * }
 * ```
 * @publicApi
 */
export interface WriteBufferOptionsFactory {
  /** The module's options (or a promise of them). */
  createWriteBufferOptions(): WriteBufferModuleOptions | Promise<WriteBufferModuleOptions>;
}

/**
 * Options of `WriteBufferModule.forRootAsync()`: `useFactory` (with
 * `inject` and `imports`), `useClass` or `useExisting` (a
 * {@link WriteBufferOptionsFactory}), and `isGlobal`.
 * @publicApi
 */
export type WriteBufferModuleAsyncOptions = ConfigurableModuleAsyncOptions<
  WriteBufferModuleOptions,
  'createWriteBufferOptions'
> & {
  /**
   * Register the module globally, so `BufferService` and `@BufferedCounter()`
   * work in every module without importing it again.
   * @default false
   */
  isGlobal?: boolean;
};
