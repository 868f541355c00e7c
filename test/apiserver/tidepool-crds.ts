// tidepool's CustomResourceDefinitions as users get them: the files of
// deploy/tidepool/crds/, read from the repository, in file-name order.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { yamlObjects } from '../../src/apiserver/crd/install.ts';

export const CRD_DIR = join(import.meta.dirname, '..', '..', 'deploy', 'tidepool', 'crds');

export function crdFiles(): string[] {
  return readdirSync(CRD_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(CRD_DIR, f));
}

export function tidepoolCrdObjects(): Record<string, unknown>[] {
  return crdFiles().flatMap((f) => yamlObjects(readFileSync(f, 'utf8')));
}
