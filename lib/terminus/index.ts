export {
  WriteBufferHealthIndicator,
  WRITE_BUFFER_HEALTH_DEFAULTS,
  type WriteBufferHealthThresholds,
} from './write-buffer.health-indicator.js';
