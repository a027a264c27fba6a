import { describe, expect, it } from '@jest/globals';
import { runInNewContext } from 'node:vm';
import { decodeJson, encodeJson } from './stored-value.codec.js';

describe('stored-value codec', () => {
  it.each([
    ['a string', 'text with "quotes", \\, \n and \u0000'],
    ['a number', 42.5],
    ['a boolean', false],
    ['null', null],
    ['bigint-as-string', '9223372036854775807'],
    ['JSON text of a json column', '{"a":[1,2]}'],
  ])('round-trips %s', (_name, value) => {
    expect(decodeJson(encodeJson(value))).toEqual(value);
  });

  it('gives back a Date as a Date, to the millisecond', () => {
    const date = new Date('2024-02-29T12:34:56.789Z');
    const back = decodeJson<Date>(encodeJson(date));
    expect(back).toBeInstanceOf(Date);
    expect(back.getTime()).toBe(date.getTime());
  });

  it('gives back a Buffer as a Buffer, byte for byte', () => {
    const bytes = Buffer.from([0, 1, 254, 255, 10]);
    const back = decodeJson<Buffer>(encodeJson(bytes));
    expect(Buffer.isBuffer(back)).toBe(true);
    expect(back.equals(bytes)).toBe(true);
  });

  it('keeps tagged values nested in rows and arrays', () => {
    const row = {
      at: new Date(0),
      data: Buffer.from('hi'),
      nested: [{ when: new Date(1000) }],
      plain: 'x',
    };
    const back = decodeJson<typeof row>(encodeJson(row));
    expect(back.at).toBeInstanceOf(Date);
    expect(back.at.getTime()).toBe(0);
    expect(Buffer.isBuffer(back.data) && back.data.toString()).toBe('hi');
    expect(back.nested[0].when.getTime()).toBe(1000);
    expect(back.plain).toBe('x');
  });

  it('tags a Date made in another realm (VM context)', () => {
    const foreign = runInNewContext('new Date(1234)') as Date;
    expect(foreign instanceof Date).toBe(false);
    const back = decodeJson<Date>(encodeJson({ at: foreign }) as string) as unknown as {
      at: Date;
    };
    expect(back.at).toBeInstanceOf(Date);
    expect(back.at.getTime()).toBe(1234);
  });

  it('writes plain values as plain JSON (what stored entries already hold)', () => {
    expect(encodeJson({ views: 1, title: 'a' })).toBe('{"views":1,"title":"a"}');
    expect(encodeJson(new Date(5))).toBe('{"$date":5}');
    expect(encodeJson(Buffer.from('A'))).toBe('{"$bytes":"QQ=="}');
  });
});
