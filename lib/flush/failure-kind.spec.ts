import { describe, expect, it } from '@jest/globals';
import { QueryFailedError } from 'typeorm';
import { classifyFailure } from './failure-kind.js';

/** A statement the database ran and refused, with the driver's error fields. */
function refused(fields: { code?: string; errno?: number }): QueryFailedError {
  return new QueryFailedError(
    'UPDATE t SET c = 1',
    [],
    Object.assign(new Error('refused'), fields),
  );
}

describe('classifyFailure', () => {
  describe('postgres', () => {
    it.each([
      ['23505', 'unique violation'],
      ['23502', 'not-null violation'],
      ['22P02', 'invalid text representation'],
      ['22003', 'numeric value out of range'],
      ['42703', 'undefined column'],
      ['42P01', 'undefined table'],
    ])('%s (%s) is about the data', (code) => {
      expect(classifyFailure('postgres', refused({ code }))).toBe('data');
    });

    it.each([
      ['08006', 'connection failure'],
      ['40001', 'serialization failure'],
      ['40P01', 'deadlock detected'],
      ['53300', 'too many connections'],
      ['57P01', 'admin shutdown'],
      ['57014', 'query canceled'],
      ['58030', 'io error'],
      ['55P03', 'lock not available'],
      ['55006', 'object in use'],
      ['55000', 'object not in prerequisite state'],
    ])('%s (%s) is transient', (code) => {
      expect(classifyFailure('postgres', refused({ code }))).toBe('transient');
    });

    it('calls a refusal without a SQLSTATE transient', () => {
      expect(classifyFailure('postgres', refused({}))).toBe('transient');
      expect(classifyFailure('postgres', refused({ code: 'ECONNRESET' }))).toBe('transient');
    });
  });

  describe('better-sqlite3', () => {
    it.each([
      'SQLITE_CONSTRAINT_UNIQUE',
      'SQLITE_CONSTRAINT_NOTNULL',
      'SQLITE_MISMATCH',
      'SQLITE_ERROR',
    ])('%s is about the data', (code) => {
      expect(classifyFailure('better-sqlite3', refused({ code }))).toBe('data');
    });

    it.each([
      'SQLITE_BUSY',
      'SQLITE_BUSY_SNAPSHOT',
      'SQLITE_LOCKED',
      'SQLITE_IOERR_WRITE',
      'SQLITE_FULL',
      'SQLITE_CANTOPEN',
      'SQLITE_NOMEM',
      'SQLITE_INTERRUPT',
    ])('%s is transient', (code) => {
      expect(classifyFailure('better-sqlite3', refused({ code }))).toBe('transient');
    });
  });

  describe('mysql and mariadb', () => {
    it.each([
      ['mysql', 1062], // duplicate key
      ['mariadb', 1062],
      ['mariadb', 1264], // out of range
      ['mariadb', 1406], // data too long
      ['mariadb', 1452], // foreign key: no parent
      ['mysql', 1451], // foreign key: row is a parent
      ['mariadb', 1366], // incorrect value
      ['mariadb', 1048], // NULL in a NOT NULL column
      ['mariadb', 4025], // CHECK constraint (MariaDB)
      ['mysql', 3819], // CHECK constraint (MySQL)
      ['mysql', 3140], // invalid JSON
      ['mariadb', 1153], // larger than max_allowed_packet: bisection splits it
    ])('%s errno %i is about the data', (driver, errno) => {
      expect(classifyFailure(driver, refused({ errno }))).toBe('data');
    });

    it.each([1213, 1205, 1040, 1053, 1317, 1969, 1290, 2006, 2013, 4031])(
      'errno %i is transient',
      (errno) => {
        expect(classifyFailure('mariadb', refused({ errno }))).toBe('transient');
        expect(classifyFailure('mysql', refused({ errno }))).toBe('transient');
      },
    );

    it('calls a refusal without an errno transient (mysql2 lost the connection)', () => {
      expect(classifyFailure('mariadb', refused({ code: 'PROTOCOL_CONNECTION_LOST' }))).toBe(
        'transient',
      );
    });
  });

  it('calls an error that is not a refused statement transient, whatever its code', () => {
    const connectFailed = Object.assign(new Error('connect ECONNREFUSED'), { code: '23505' });
    expect(classifyFailure('postgres', connectFailed)).toBe('transient');
    expect(classifyFailure('better-sqlite3', new Error('SQLITE_CONSTRAINT'))).toBe('transient');
  });

  it('calls any refusal transient on a driver it does not know', () => {
    expect(classifyFailure('oracle', refused({ code: '23505' }))).toBe('transient');
  });
});
