import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { mergeMap, type Observable } from 'rxjs';
import { BufferService } from '../buffer.service.js';
import type { BufferedCounterMetadata } from '../decorators/buffered-counter.decorator.js';
import { BUFFERED_COUNTER_METADATA } from '../write-buffer.constants.js';

/** Counts for `@BufferedCounter()` once the handler has produced its result. */
@Injectable()
export class BufferedCounterInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly buffer: BufferService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const meta = this.reflector.get<BufferedCounterMetadata | undefined>(
      BUFFERED_COUNTER_METADATA,
      context.getHandler(),
    );
    if (!meta) return next.handle();
    let counted = false;
    return next.handle().pipe(
      mergeMap(async (result) => {
        if (!counted) {
          counted = true;
          const id =
            typeof meta.id === 'function' ? meta.id(context) : routeParam(context, meta.id ?? 'id');
          const by = typeof meta.by === 'function' ? meta.by(context, result) : (meta.by ?? 1);
          await this.buffer.increment(meta.entity, id, meta.column, by);
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
