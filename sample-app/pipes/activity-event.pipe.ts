import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';

/** The body of `POST /events`. */
export interface ActivityEvent {
  postId: number;
}

/** Accepts `{ "postId": <positive integer> }` and nothing else, with a 400 that says so. */
@Injectable()
export class ActivityEventPipe implements PipeTransform<unknown, ActivityEvent> {
  transform(body: unknown): ActivityEvent {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new BadRequestException('The body must be a JSON object like {"postId": 1}.');
    }
    const { postId } = body as Record<string, unknown>;
    if (!Number.isSafeInteger(postId) || (postId as number) < 1) {
      throw new BadRequestException(
        `postId must be a positive integer, got ${JSON.stringify(postId) ?? 'nothing'}.`,
      );
    }
    return { postId: postId as number };
  }
}
