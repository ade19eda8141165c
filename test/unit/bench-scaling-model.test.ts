import { describe, expect, it } from 'vitest';
import { modelRate, primaryBoundFrom, scalingSvg } from '../../bench/lib/scaling-model.mjs';

// The bench's scaling model: the primary (one thread) or the machine's cores, whichever limits first.

describe('scaling model', () => {
  const hop = { primaryMicros: 100, workersMicros: 200 };
  const kernel = { primaryMicros: 0.4, workersMicros: 130 };

  it('shares the cores while they limit, then the primary caps the rate', () => {
    expect(modelRate(hop, 2)).toBeCloseTo(2e6 / 300);
    expect(primaryBoundFrom(hop)).toBe(3);
    expect(modelRate(hop, 3)).toBeCloseTo(1e4);
    expect(modelRate(hop, 64)).toBeCloseTo(1e4);
  });

  it('a primary below 1 µs per connection is no limit: the rate grows with the cores', () => {
    expect(primaryBoundFrom(kernel)).toBe(Infinity);
    expect(modelRate(kernel, 64) / modelRate(kernel, 2)).toBeCloseTo(32);
  });

  it('no cost or no core gives no rate', () => {
    expect(modelRate({ primaryMicros: 0, workersMicros: 0 }, 4)).toBe(0);
    expect(modelRate(hop, 0)).toBe(0);
  });

  it('draws one line per target with its label, escaped, and marks the measured core count', () => {
    const svg = scalingSvg([{ label: 'hop <primary>', ...hop }, { label: 'kernel', ...kernel }], { measuredCores: 2 });
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg).toContain('hop &lt;primary&gt;');
    expect(svg).toContain('measured here');
    // Seven points per line: 1, 2, 4 … 64 cores.
    expect(svg.match(/points="([^"]*)"/)?.[1]?.split(' ')).toHaveLength(7);
  });
});
