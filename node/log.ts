// Structured JSON-lines logging for the agent (one object per line on stderr).

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, event: string, fields?: Record<string, unknown>) => void;

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Creates a logger writing JSON lines at or above `min`. */
export function createLogger(component: string, min: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  return (level, event, fields = {}) => {
    if (ORDER[level] < ORDER[min]) return;
    write(JSON.stringify({ ts: new Date().toISOString(), level, component, event, ...fields }));
  };
}
