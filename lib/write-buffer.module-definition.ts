import { ConfigurableModuleBuilder } from '@nestjs/common';
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
