import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';

/** Most ids one `GET /posts?ids=…` lists. */
const MAX_IDS = 100;

/** Accepts `ids=1,2,3` (1 to 100 positive integers), with a 400 that says what is wrong. */
@Injectable()
export class PostIdsPipe implements PipeTransform<unknown, number[]> {
  transform(value: unknown): number[] {
    if (typeof value !== 'string' || value === '') {
      throw new BadRequestException('Pass the posts to list as ids=1,2,3.');
    }
    const ids = value.split(',').map((part) => (/^\d+$/.test(part) ? Number(part) : NaN));
    const bad = ids.findIndex((id) => !Number.isSafeInteger(id) || id < 1);
    if (bad >= 0) {
      throw new BadRequestException(
        `ids must be positive integers separated by commas, got ${JSON.stringify(value.split(',')[bad])}.`,
      );
    }
    if (ids.length > MAX_IDS) {
      throw new BadRequestException(`List at most ${MAX_IDS} posts at a time, not ${ids.length}.`);
    }
    return ids;
  }
}
