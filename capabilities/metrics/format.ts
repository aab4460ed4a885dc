// How the CLI shows metric values: bytes in binary units, rates, percentages, degrees.

/** 1536 → "1.5K": bytes (and bytes per second) in binary units. */
export function bytes(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T', 'P'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? Math.round(n) : n.toFixed(1)}${units[i]}`;
}

/** A series' value as a person reads it: bytes, rates, percentages, seconds. */
export function formatValue(name: string, value: number): string {
  if (/(^mem\.|^swap\.|:used$|:size$)/.test(name)) return bytes(value);
  if (name.endsWith('_Bps')) return `${bytes(value)}/s`;
  if (name === 'cpu' || name.startsWith('cpu.') || name.startsWith('core:') || name.endsWith(':busy'))
    return name === 'cpu.cores' ? String(value) : `${value.toFixed(1)}%`;
  if (name.startsWith('temp:')) return `${value.toFixed(1)}°C`;
  if (name === 'uptime') return `${(value / 86_400).toFixed(1)}d`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
