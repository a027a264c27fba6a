import {
  HttpException,
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { mergeMap, type Observable } from 'rxjs';
import { BufferService } from '../buffer.service.js';
import type { BufferedCounterMetadata } from '../decorators/buffered-counter.decorator.js';
import { WriteBufferError } from '../errors.js';
import { BUFFERED_COUNTER_METADATA } from '../write-buffer.constants.js';

/**
 * Counts for `@BufferedCounter()` once the handler has produced its result.
 * The decorator on a method wins over the one on its controller class.
 * @publicApi
 */
@Injectable()
export class BufferedCounterInterceptor implements NestInterceptor {
  /**
   * Calls this interceptor already counts for: a method and its class both
   * decorated bind it twice, and Nest hands both the same context.
   */
  private readonly counting = new WeakSet<ExecutionContext>();

  constructor(
    private readonly reflector: Reflector,
    private readonly buffer: BufferService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const own = this.reflector.get<BufferedCounterMetadata | undefined>(
      BUFFERED_COUNTER_METADATA,
      context.getHandler(),
    );
    const meta =
      own ??
      this.reflector.get<BufferedCounterMetadata | undefined>(
        BUFFERED_COUNTER_METADATA,
        context.getClass(),
      );
    if (!meta || this.counting.has(context)) return next.handle();
    this.counting.add(context);
    // The class's decorator counts for the routes that name a row: a list
    // or create route of the controller names none, and answers as usual.
    if (
      !own &&
      typeof meta.id !== 'function' &&
      routeParam(context, meta.id ?? 'id') === undefined
    ) {
      return next.handle();
    }
    let counted = false;
    return next.handle().pipe(
      mergeMap(async (result) => {
        if (!counted) {
          counted = true;
          const id =
            typeof meta.id === 'function' ? meta.id(context) : routeParam(context, meta.id ?? 'id');
          const by = typeof meta.by === 'function' ? meta.by(context, result) : (meta.by ?? 1);
          await this.buffer.increment(meta.entity, id, meta.column, by).catch((error: unknown) => {
            throw asClientError(context, error);
          });
        }
        return result;
      }),
    );
  }
}

function routeParam(context: ExecutionContext, name: string): unknown {
  const request = context.switchToHttp().getRequest<{ params?: Record<string, unknown> }>();
  return request?.params?.[name];
}

/**
 * A request whose id or amount cannot be counted (`statusCode` 4xx) answers
 * with that status and the message, as an `HttpException`, which Nest does
 * not log as a server error with a stack trace.
 */
function asClientError(context: ExecutionContext, error: unknown): unknown {
  if (
    context.getType() === 'http' &&
    error instanceof WriteBufferError &&
    error.statusCode !== undefined &&
    error.statusCode < 500
  ) {
    return new HttpException(error.message, error.statusCode, { cause: error });
  }
  return error;
}
