// The browser tests' common set-up: build the pages with vite, serve them with a bundle
// (scripts/serve-web.mjs, as users do), open Debian's headless Chromium on a fresh profile and
// keep the page's console; on failure, a screenshot and that console go to the test's output.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CHROMIUM = '/usr/bin/chromium';
const pw = await import('playwright-core').catch(() => null);

/** Why browser tests cannot run here (with the install command), or false. */
export const browserSkip: string | false = !existsSync(CHROMIUM) ? `${CHROMIUM} is missing: apt-get install -y chromium (scripts/setup.sh does)`
  : !pw ? 'playwright-core is not installed: npm ci' : false;

export interface Site {
  /** The server's address, ending in '/'. */
  url: string;
  /** The built pages (assets/ holds what vite emitted). */
  dir: string;
  browser: BrowserContext;
  page: Page;
  /** The page's console messages and errors, in order. */
  log: string[];
  /** Closes Chromium and the server; with a test name (a failed test), first prints a screenshot's path and the console. */
  close(failed?: string): Promise<void>;
}

/** Builds web/ into tmp/site, serves it with `bundle`, opens a page (not yet navigated). */
export async function openSite(tmp: string, bundle: string, o: { width?: number; height?: number; swiftshader?: boolean } = {}): Promise<Site> {
  const dir = join(tmp, 'site');
  const { build } = await import('vite');
  await build({ configFile: join(ROOT, 'web', 'vite.config.mjs'), build: { outDir: dir, emptyOutDir: true }, logLevel: 'error' });
  const { serveWeb } = await import(join(ROOT, 'scripts', 'serve-web.mjs'));
  const server: { url: string; close(): Promise<void> } = await serveWeb({ dist: dir, bundle, port: 0 });
  let browser: BrowserContext;
  try {
    // a fresh profile (playwright passes it as --user-data-dir)
    browser = await pw!.chromium.launchPersistentContext(join(tmp, 'profile'), {
      executablePath: CHROMIUM, headless: true, viewport: { width: o.width ?? 1200, height: o.height ?? 800 }, acceptDownloads: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', ...(o.swiftshader ? ['--enable-unsafe-swiftshader'] : [])],
    });
  } catch (e) {
    await server.close();
    throw e;
  }
  const page = await browser.newPage();
  const log: string[] = [];
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  return {
    url: server.url, dir, browser, page, log,
    async close(failed) {
      if (failed) {
        const shots = mkdtempSync(join(tmpdir(), 'unetpp-web-failure-'));
        await page.screenshot({ path: join(shots, 'page.png'), fullPage: true }).catch(() => {});
        console.log(`# ${failed} failed: screenshot ${join(shots, 'page.png')}\n# page console:\n${log.map((l) => `#   ${l}`).join('\n')}`);
      }
      await browser.close();
      await server.close();
    },
  };
}

/** The profile folder openSite gives Chromium (to find its processes). */
export const profileOf = (tmp: string) => join(tmp, 'profile');
