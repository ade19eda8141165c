export { MetricsServer, type MetricsSource } from './metrics-primary.js';
export { renderMetrics, type PrimaryMetrics, type SlotFigureMetrics, type SlotMetrics } from './prometheus.js';
export { startWorkerFigures, loadPromClient, type WorkerFigures } from './figures-worker.js';
export { FigureBook, WorkerScrapes, type SlotFigures, type ScrapeTarget } from './figures-primary.js';
