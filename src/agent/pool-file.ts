import { parseAllDocuments } from 'yaml';
import { TidepoolError } from '../ipam/errors.ts';
import { planPools, type Pool } from '../ipam/pool.ts';

/**
 * Parses a pool file: one or more YAML documents, each an IPPool object (the
 * CRD's shape) or a `kind: List` with `items`. The file is accepted or
 * refused as a whole: one bad pool, or two overlapping ones, refuses it all.
 */
export function planPoolFile(text: string, fileName: string): Pool[] {
  const docs = parseAllDocuments(text);
  const objects: unknown[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const problem = doc.errors[0];
    if (problem) {
      const line = problem.linePos?.[0]?.line;
      throw new TidepoolError('DECODE_FAILED', `${fileName}${line ? `:${line}` : ''}: not valid YAML: ${problem.message.split('\n')[0]}`, { file: fileName, line });
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (isList(value)) objects.push(...value.items);
    else objects.push(value);
  }
  if (objects.length === 0) throw new TidepoolError('INVALID_POOL', `${fileName}: holds no IPPool objects`, { file: fileName });
  return planPools(objects, `${fileName}: `);
}

function isList(value: unknown): value is { items: unknown[] } {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'List' && Array.isArray((value as { items?: unknown }).items);
}
