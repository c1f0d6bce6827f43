import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The console is served by Pippin itself from dist/console (`npm run build`). */
export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  css: { postcss: path.join(here, 'postcss.config.cjs') },
  build: { outDir: path.join(here, '..', 'dist', 'console'), emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: { proxy: { '/api': 'http://localhost:8080', '/healthz': 'http://localhost:8080' } },
});
