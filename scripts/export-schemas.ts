/** Writes the JSON Schema of every event to docs/schemas/, for services written in other languages. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { PUBLISHED_SCHEMAS } from '../libs/contracts/src';

async function exportSchemas(): Promise<void> {
  const out = join(__dirname, '..', 'docs', 'schemas');
  mkdirSync(out, { recursive: true });
  for (const schema of PUBLISHED_SCHEMAS) {
    const file = join(out, `${schema.title}.schema.json`);
    // Formatted as the repository's prettier check expects, so regenerating changes only what changed.
    const formatted = await format(JSON.stringify(schema, null, 2), {
      ...(await resolveConfig(file)),
      filepath: file,
    });
    writeFileSync(file, formatted);
  }
}

exportSchemas().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
