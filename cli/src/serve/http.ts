// HTTP plumbing of the job API: JSON answers, errors as `{status, message, cause}`, bodies read
// with a 1 MiB bound, and FlotillaErrors mapped to HTTP statuses in one place.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { FlotillaError, type ErrorCode } from '../../../shared/wire/errors.ts';

/** Largest request body. */
export const MAX_BODY = 1024 * 1024;

/** An error the API answers with: its HTTP status, a sentence, and a stable cause. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    override readonly cause: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const STATUS_OF: Partial<Record<ErrorCode, [number, string]>> = {
  usage: [400, 'bad-request'],
  'bad-message': [400, 'bad-request'],
  'bad-selector': [400, 'bad-selector'],
  'not-found': [404, 'not-found'],
  'no-match': [404, 'no-match'],
  forbidden: [403, 'forbidden'],
  conflict: [409, 'conflict'],
  'rate-limited': [429, 'rate-limited'],
  'signaling-failed': [502, 'signaling-failed'],
  unreachable: [502, 'unreachable'],
  timeout: [504, 'timeout'],
};

/** Any error as an ApiError (an internal one says so without a stack). */
export function apiErrorOf(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof FlotillaError) {
    const [status, cause] = STATUS_OF[error.code] ?? [500, error.code];
    return new ApiError(status, error.detail ?? error.message, cause);
  }
  return new ApiError(500, `internal error: ${error instanceof Error ? error.message : String(error)}`, 'internal');
}

/** Answers with JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Answers with an error body. */
export function sendError(res: ServerResponse, error: ApiError): void {
  sendJson(res, error.status, { status: error.status, message: error.message, cause: error.cause }, error.headers);
}

/** Reads a JSON body (none: `{}`); 413 past MAX_BODY, 400 when it is not JSON or not an object. */
export async function readJsonBody(req: IncomingMessage, max = MAX_BODY): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) {
    req.resume();
    throw new ApiError(413, `the body is ${declared} bytes; at most ${max} are accepted`, 'too-large');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.resume();
      throw new ApiError(413, `the body is over ${max} bytes`, 'too-large');
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ApiError(400, `body: not JSON (${(error as Error).message})`, 'bad-request');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ApiError(400, 'body: expected a JSON object', 'bad-request');
  return value as Record<string, unknown>;
}
