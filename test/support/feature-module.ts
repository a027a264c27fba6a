import { Module, type DynamicModule } from '@nestjs/common';
import { WriteBufferModule, type WriteBufferEntityOptions } from '../../lib/index.js';

/** A feature module of the app, importing `forFeature` as an app's module would. */
export function featureModule(entities: WriteBufferEntityOptions[]): DynamicModule {
  @Module({ imports: [WriteBufferModule.forFeature(entities)] })
  class FeatureModule {}
  return { module: FeatureModule };
}
