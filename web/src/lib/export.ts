// Exports of task history: JSON (everything) and CSV (one row per host of each task).

import type { TaskRecord } from './db/schema.ts';

/** Offers `text` as a file download. */
export function download(filename: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function tasksToJson(tasks: readonly TaskRecord[]): string {
  return JSON.stringify({ exportedAt: new Date().toISOString(), tasks }, null, 2);
}

function cell(value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function tasksToCsv(tasks: readonly TaskRecord[]): string {
  const header = [
    'task',
    'started',
    'selector',
    'command',
    'device',
    'host',
    'host_id',
    'status',
    'exit_code',
    'duration_ms',
    'truncated',
    'error',
    'stdout',
    'stderr',
  ];
  const lines = [header.join(',')];
  for (const t of tasks) {
    for (const h of t.hosts) {
      lines.push(
        [
          t.id,
          new Date(t.startedAt).toISOString(),
          t.selector,
          t.command,
          t.device,
          h.label,
          h.hostId,
          h.status,
          h.exitCode,
          h.durationMs,
          h.truncated,
          h.error,
          h.stdout,
          h.stderr,
        ]
          .map(cell)
          .join(','),
      );
    }
  }
  return lines.join('\r\n') + '\r\n';
}

/** A file name with today's date. */
export function exportName(ext: string): string {
  return `flotilla-history-${new Date().toISOString().slice(0, 10)}.${ext}`;
}
