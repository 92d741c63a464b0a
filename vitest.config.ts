import { defineConfig } from 'vitest/config';

// Native addons and vitest's `threads` pool do not mix (segfaults on teardown): every test
// file runs in its own child process.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
