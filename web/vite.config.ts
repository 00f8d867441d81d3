import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The dashboard is a static bundle the server serves at `/` from dist/web.
// `npm run build:web` builds it; `npx vite --config web/vite.config.ts` runs it in
// development against a server on :8080 (the API is proxied, so it stays same-origin).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    // The server's Content-Security-Policy forbids inline scripts and styles; Vite's default
    // output (external module scripts and CSS files) already complies, and no asset is inlined
    // as a data: URL except images, which the policy allows.
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/v1': 'http://localhost:8080',
    },
  },
});
