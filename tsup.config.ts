import { defineConfig } from 'tsup';

// One source tree, two module formats: ESM (.js) and CommonJS (.cjs), each with its types.
// `shims` makes import.meta.url usable in the CommonJS build (the addon loader needs it).
export default defineConfig({
  entry: { index: 'src-ts/index.ts', cli: 'src-ts/cli.ts', worker: 'src-ts/backends/worker-entry.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src-ts/index.ts' } },
  target: 'node18',
  platform: 'node',
  shims: true,
  // Class names show in messages ("got an object (SharedCounter)") and to users' code.
  keepNames: true,
  splitting: false,
  sourcemap: true,
  clean: true,
});
