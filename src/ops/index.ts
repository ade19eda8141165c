export { MetricsServer, type MetricsSource } from './metrics-primary.js';
export { renderMetrics, SLOT_STATES, type PrimaryMetrics, type SlotMetrics, type SlotStateName } from './prometheus.js';
