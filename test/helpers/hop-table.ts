import { SlotTable } from '../../src/sticky/slot-table-primary.js';
import { HopDelivery } from '../../src/sticky/planes/hop-delivery-primary.js';
import type { SlotQueueOptions } from '../../src/sticky/slot-queue.js';

/** A slot table on the primary hop's delivery (slot queue + handoff links), without a port. */
export function hopTable(count: number, options: SlotQueueOptions): { table: SlotTable; hop: HopDelivery } {
  const table = new SlotTable(count);
  const hop = new HopDelivery(table, options);
  table.open(hop);
  return { table, hop };
}
