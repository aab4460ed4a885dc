// Entry point of the one-file agent bundle (dist/flotilla-agent.mjs): runs main() and turns
// errors into a sentence and an exit status.
import { main } from './main.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      error instanceof FlotillaError ? `error: ${error.message}\n` : `internal error: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(error instanceof FlotillaError ? 2 : 70);
  },
);
