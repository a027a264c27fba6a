import { Module, type DynamicModule, type Type } from '@nestjs/common';
import type { EntitySchema } from 'typeorm';
import { WriteBufferModule, type WriteBufferEntityOptions } from '../../lib/index.js';
import type { DatabaseKind } from './databases.js';
import { ENTITIES } from './entities.js';
import { createTestApp, type TestApp } from './test-app.js';

/** A feature module of the app, importing `forFeature` as an app's module would. */
export function featureModule(entities: WriteBufferEntityOptions[]): DynamicModule {
  @Module({ imports: [WriteBufferModule.forFeature(entities)] })
  class FeatureModule {}
  return { module: FeatureModule };
}

/**
 * The test app on `kind` with `features` registered through `forFeature`,
 * each `onMissingRow: 'insert'` unless it says otherwise, and their
 * entities and `entities` beside the shared test entities.
 */
export function upsertApp(
  kind: DatabaseKind,
  features: WriteBufferEntityOptions[],
  entities: Type[] = [],
): Promise<TestApp> {
  const all = new Set<Type | EntitySchema>([
    ...ENTITIES,
    ...entities,
    ...features.map((f) => f.entity as Type),
  ]);
  return createTestApp(
    kind,
    {},
    {
      entities: [...all],
      imports: [featureModule(features.map((f) => ({ onMissingRow: 'insert', ...f })))],
    },
  );
}
