// Types of scaling-model.mjs, for the unit tests.
export interface CostPerConnection { primaryMicros: number; workersMicros: number }
export function modelRate(cost: CostPerConnection, cores: number): number;
export function primaryBoundFrom(cost: CostPerConnection): number;
export function scalingSvg(
  series: (CostPerConnection & { label: string })[], options?: { maxCores?: number; measuredCores?: number; title?: string },
): string;
