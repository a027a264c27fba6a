import {
  applyDecorators,
  SetMetadata,
  UseInterceptors,
  type ExecutionContext,
} from '@nestjs/common';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import { BufferedCounterInterceptor } from '../interceptors/buffered-counter.interceptor.js';
import { BUFFERED_COUNTER_METADATA } from '../write-buffer.constants.js';

/**
 * Options of {@link BufferedCounter}.
 * @publicApi
 */
export interface BufferedCounterOptions {
  /**
   * Where the row id comes from: a route-param name, or a function of the
   * execution context.
   * @default 'id'
   */
  id?: string | ((context: ExecutionContext) => unknown);
  /**
   * How much to count: a number, or a function of the execution context
   * and the handler's result.
   * @default 1
   */
  by?: number | ((context: ExecutionContext, result: unknown) => number);
}

/**
 * Metadata `@BufferedCounter()` stores on a handler or a controller class.
 * @publicApi
 */
export interface BufferedCounterMetadata extends BufferedCounterOptions {
  entity: EntityTarget<ObjectLiteral>;
  column: string;
}

/**
 * Counts one (or `options.by`) into `column` of the row named by the route
 * after the handler succeeds; nothing is counted when it throws. The
 * response waits only for the buffered write, never for the database.
 * An id that is not a valid key of the entity (or an amount that is not a
 * valid delta) answers 400 with the message, and counts nothing.
 *
 * On a controller class it counts for every handler of the class whose
 * route has the id param (or, with an `id` function, every handler); a
 * handler's own `@BufferedCounter()` replaces the class's.
 *
 * @example
 * ```ts
 * @Get(':id')
 * @BufferedCounter(Post, 'views')
 * findOne(@Param('id') id: string) { ... }
 * ```
 * @publicApi
 */
export function BufferedCounter<T extends ObjectLiteral>(
  entity: EntityTarget<T>,
  column: keyof T & string,
  options: BufferedCounterOptions = {},
): ClassDecorator & MethodDecorator {
  return applyDecorators(
    SetMetadata<string, BufferedCounterMetadata>(BUFFERED_COUNTER_METADATA, {
      ...options,
      entity,
      column,
    }),
    UseInterceptors(BufferedCounterInterceptor),
  );
}
