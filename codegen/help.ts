/**
 * `--help` text laid out by hand: words are never cut (yargs' layout hard-wraps columns, and
 * substitutes `$0` after wrapping, so lines overflowed the terminal and broke words in two:
 * `--against d` / `eployed/schemas/`). Used by gridgen and the lock-service demo.
 */

export interface HelpSpec {
  /** First line, after `Usage: `. */
  usage: string;
  /** Paragraphs under the usage line. */
  description?: string;
  options: { flags: string; text: string }[];
  examples?: { command: string; text: string }[];
}

/** Widest help text, even on a wide terminal (long lines are hard to read). */
const maxWidth = 100;
const minWidth = 20;

/**
 * The width to lay help out for: the terminal's width less one column (a line that fills the
 * last column makes some terminals wrap), at most 100; 100 when not writing to a terminal.
 */
export function helpWidth(columns: number | undefined): number {
  if (columns === undefined || !(columns > 0)) return maxWidth;
  return Math.max(minWidth, Math.min(maxWidth, columns - 1));
}

/** `text` wrapped at word boundaries into lines of at most `width` (a longer word stays whole). */
export function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

export function formatHelp(spec: HelpSpec, width: number): string {
  const out: string[] = [...wrapWords(`Usage: ${spec.usage}`, width).map((l, i) => (i === 0 ? l : `  ${l}`))];
  if (spec.description !== undefined) {
    for (const para of spec.description.split(/\n\s*\n/)) out.push("", ...wrapWords(para, width));
  }
  out.push("", "Options:");
  const flagsWidth = Math.min(30, Math.max(...spec.options.map((o) => o.flags.length)));
  const textCol = 2 + flagsWidth + 2;
  // Too narrow for two columns: descriptions go under their flags.
  const sideBySide = width - textCol >= 30;
  for (const o of spec.options) {
    if (sideBySide) {
      const text = wrapWords(o.text, width - textCol);
      const first = o.flags.length <= flagsWidth ? `  ${o.flags.padEnd(flagsWidth)}  ${text[0] ?? ""}` : undefined;
      if (first !== undefined) out.push(first.trimEnd());
      else out.push(`  ${o.flags}`, `${" ".repeat(textCol)}${text[0] ?? ""}`);
      for (const l of text.slice(1)) out.push(`${" ".repeat(textCol)}${l}`);
    } else {
      out.push(`  ${o.flags}`, ...wrapWords(o.text, width - 6).map((l) => `      ${l}`));
    }
  }
  if (spec.examples !== undefined && spec.examples.length > 0) {
    out.push("", "Examples:");
    for (const e of spec.examples) {
      out.push(...wrapWords(e.command, width - 6).map((l, i) => (i === 0 ? `  ${l}` : `      ${l}`)));
      out.push(...wrapWords(e.text, width - 6).map((l) => `      ${l}`));
    }
  }
  return `${out.join("\n")}\n`;
}
