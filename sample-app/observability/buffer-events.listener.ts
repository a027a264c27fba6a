import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import {
  WriteBufferEvent,
  type DeadLetterEvent,
  type FlushFailedEvent,
  type FlushRecoveredEvent,
} from '../../lib/index.js';

/** Where an app would page someone: here, one log line per event. */
@Injectable()
export class BufferEventsListener {
  private readonly logger = new Logger('BufferEvents');

  @OnEvent(WriteBufferEvent.FlushFailed)
  flushFailed({ dataSource, error }: FlushFailedEvent) {
    this.logger.warn(`flushing '${dataSource}' fails: ${error}`);
  }

  @OnEvent(WriteBufferEvent.FlushRecovered)
  flushRecovered({ dataSource, failedAttempts }: FlushRecoveredEvent) {
    this.logger.log(`flushing '${dataSource}' recovered after ${failedAttempts} attempt(s)`);
  }

  @OnEvent(WriteBufferEvent.DeadLetter)
  deadLetter({ letter }: DeadLetterEvent) {
    this.logger.warn(`dead letter ${letter.id} on ${letter.entity}: ${letter.error}`);
  }
}
