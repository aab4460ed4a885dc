// Script arguments typed in one field: split into words the way a shell would (quotes and
// backslashes), then quoted again so the host's /bin/sh passes exactly those words.

/** Splits `text` into words; '…' is literal, "…" and bare words honour backslash escapes. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) word += text[++i];
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`the ${quote === "'" ? 'single' : 'double'} quote is not closed`);
  if (inWord) words.push(word);
  return words;
}

/** One word quoted for /bin/sh (left bare when it is plainly safe). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that runs a script handed over on stdin with `args`. A script with a `#!` line is
 * written to a private temporary file and run by its interpreter; any other runs in `sh -s`.
 */
export function scriptCommand(script: string, args: readonly string[]): string {
  const quoted = args.map(shellQuote).join(' ');
  if (!script.startsWith('#!')) return `sh -s --${quoted ? ` ${quoted}` : ''}`;
  return `f=$(mktemp) && cat > "$f" && chmod 700 "$f" && { "$f"${quoted ? ` ${quoted}` : ''}; s=$?; rm -f "$f"; exit $s; }`;
}
