// npm's `prepack` hook (npm pack, npm publish): refuse to pack a package that would install
// broken. Nothing builds on install (README, "Installing the package"), so a tarball without
// dist/ or without a prebuilt addon is what every user of it would get. `npm run build` makes
// both. Runs in the package root, as npm runs scripts.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const missing = [];
// The entry points package.json names, and the worker runtime the worker backend starts.
const entries = ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts', 'worker.js', 'cli.js'];
if (!entries.every((file) => existsSync(join('dist', file)))) missing.push('dist/ (the compiled library)');
const prebuilds = existsSync('prebuilds')
  ? readdirSync('prebuilds', { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .flatMap((entry) => readdirSync(join('prebuilds', entry.name)).filter((file) => file.endsWith('.node')))
  : [];
if (prebuilds.length === 0) missing.push('prebuilds/*/*.node (the prebuilt addon)');

if (missing.length > 0) {
  console.error(`spindle: refusing to pack without ${missing.join(' and ')}; run \`npm run build\` first`);
  process.exit(1);
}
