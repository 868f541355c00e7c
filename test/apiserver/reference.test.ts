// docs/api-server-reference.md lists what tidepool relies on in the test API
// server and the test proving each. This keeps it true: every row is
// implemented or a documented difference, and every cited test exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

const PAGE = 'docs/api-server-reference.md';

interface Row {
  semantic: string;
  status: string;
  file: string;
  title: string;
}

function rows(): Row[] {
  const out: Row[] = [];
  for (const line of readFileSync(PAGE, 'utf8').split('\n')) {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells.length !== 4 || cells[0] === 'Semantic tidepool relies on' || /^-+$/.test(cells[0]!)) continue;
    const proof = /^`([^`]+)` › (.+)$/.exec(cells[3]!);
    assert.ok(proof, `${PAGE}: "${cells[0]}" names its proof as \`file\` › test title, not ${cells[3]}`);
    out.push({ semantic: cells[0]!, status: cells[2]!, file: proof[1]!, title: proof[2]! });
  }
  return out;
}

test(`${PAGE}: every semantic tidepool relies on is implemented or a documented difference`, () => {
  const all = rows();
  assert.ok(all.length >= 20, `the table has its rows (${all.length})`);
  for (const r of all) assert.ok(r.status === 'implemented' || r.status === 'differs', `${r.semantic}: status "${r.status}"`);
  // A difference must be written down where the full reference lists them.
  const differs = readFileSync('src/apiserver/README.md', 'utf8').split('## Where it knowingly differs')[1] ?? '';
  assert.ok(differs.length > 0, 'src/apiserver/README.md has its "Where it knowingly differs" section');
});

test(`${PAGE}: every test it cites exists in the file it names`, () => {
  for (const r of rows()) {
    assert.ok(existsSync(r.file), `${r.semantic}: ${r.file} does not exist`);
    const source = readFileSync(r.file, 'utf8');
    // Titles are cited from their start; quotes inside titles are escaped in source, so compare without them.
    const plain = (s: string) => s.replace(/\\'/g, "'");
    const titles = [...source.matchAll(/\btest\((['"`])((?:\\.|(?!\1).)*)\1/g)].map((m) => plain(m[2]!));
    assert.ok(
      titles.some((t) => t.startsWith(r.title)),
      `${r.semantic}: no test in ${r.file} starts with "${r.title}"`,
    );
  }
});
