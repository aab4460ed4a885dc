import { createFleetInUi, makeTokenInUi, startStack } from './browser-harness.ts';
import { readdirSync, readFileSync } from 'node:fs';
const stack = await startStack();
try {
  const { page } = stack;
  page.on('console', (m) => console.log('[browser]', m.type(), m.text()));
  await page.goto(stack.url); await page.evaluate(() => localStorage.setItem('flotilla-debug', '3'));
  await createFleetInUi(page, stack.url);
  const { token } = await makeTokenInUi(page);
  const a = await stack.startAgent(token, 'web-a', ['--tag', 'role=web']);
  await page.locator(`tr[data-host="${a.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
  await page.locator('[data-nav="run"]').click();
  await page.getByTestId('selector').fill('tag:role=web');
  await page.getByTestId('command').fill('sleep 0.3; echo hi');
  await page.getByTestId('run').click();
  await new Promise((r) => setTimeout(r, 5000));
  console.log(await page.getByTestId('run-result').textContent());
  console.log(a.output()); console.log(stack.signal.output().split('\n').filter((l) => !l.includes('presence.read')).join('\n'));
  for (const d of readdirSync('/tmp').filter((n) => n.startsWith('flotilla-agent-'))) {
    for (const f of readdirSync('/tmp/' + d)) console.log(d, f);
    try { console.log(readFileSync(`/tmp/${d}/audit.log`, 'utf8')); } catch {}
    try { for (const f of readdirSync(`/tmp/${d}/journal`)) console.log(f, readFileSync(`/tmp/${d}/journal/${f}`, 'utf8').slice(0, 2000)); } catch (e) { console.log(e); }
  }
} finally {
  await stack.stop();
}
