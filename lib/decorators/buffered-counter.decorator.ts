import {
  applyDecorators,
  SetMetadata,
  UseInterceptors,
  type ExecutionContext,
} from '@nestjs/common';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import { BufferedCounterInterceptor } from '../interceptors/buffered-counter.interceptor.js';
import { BUFFERED_COUNTER_METADATA } from '../write-buffer.constants.js';

/** Options of {@link BufferedCounter}. */
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

/** Metadata `@BufferedCounter()` stores on a handler. */
export interface BufferedCounterMetadata extends BufferedCounterOptions {
  entity: EntityTarget<ObjectLiteral>;
  column: string;
}

/**
 * Counts one (or `options.by`) into `column` of the row named by the route
 * after the handler succeeds; nothing is counted when it throws. The
 * response waits only for the buffered write, never for the database.
 *
 * @example
 * ```ts
 * @Get(':id')
 * @BufferedCounter(Post, 'views')
 * findOne(@Param('id') id: string) { ... }
 * ```
 */
export function BufferedCounter<T extends ObjectLiteral>(
  entity: EntityTarget<T>,
  column: keyof T & string,
  options: BufferedCounterOptions = {},
) {
  return applyDecorators(
    SetMetadata<string, BufferedCounterMetadata>(BUFFERED_COUNTER_METADATA, {
      ...options,
      entity,
      column,
    }),
    UseInterceptors(BufferedCounterInterceptor),
  );
}
