// Writes src/apiserver/builtin/types.generated.ts from @kubernetes/client-node's
// models (scripts/builtin-types-plan.ts). test/apiserver/decode.test.ts fails
// while the committed file differs, so run it after updating client-node:
//   node --import tsx scripts/gen-builtin-types.ts
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderBuiltinTypes } from './builtin-types-plan.ts';

const path = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'apiserver', 'builtin', 'types.generated.ts');
writeFileSync(path, renderBuiltinTypes());
console.log(`wrote ${path}`);
