// Placeholder secrets: values like `placeholder-api-key-change-me` that sample configuration
// ships so that it renders, and that a deployment then keeps by mistake. Every component refuses
// them at startup (shared/config.ts for NATS and Redis passwords, gateway/auth.ts for API keys)
// rather than run with a credential that anyone who read the repository knows.
//
// The rule is deliberately small (docs/security.md): a value is a placeholder when, lowercased
// and with "-", "_", "." and spaces removed, it contains one of PLACEHOLDER_WORDS. A generated
// secret (`openssl rand -hex 24`) never does; a hand-picked one that happens to is refused with
// a message that says why, and is one to replace anyway.

/** The words that mark a placeholder, as they are matched (normalized). */
export const PLACEHOLDER_WORDS: readonly string[] = ['placeholder', 'changeme', 'replaceme'];

/** How the words read in messages and docs. */
export const PLACEHOLDER_WORDS_TEXT = '"placeholder", "change-me"/"changeme" or "replace-me"';

/** The command the messages suggest for a real secret. */
export const GENERATE_SECRET_HINT = 'e.g. the output of `openssl rand -hex 24`';

export function isPlaceholderSecret(value: string): boolean {
  const normalized = value.toLowerCase().replace(/[-_.\s]/g, '');
  return PLACEHOLDER_WORDS.some((word) => normalized.includes(word));
}

/** The problem to report for a placeholder in `setting` (a variable name); never the value. */
export function toPlaceholderProblem(setting: string, what = 'password'): string {
  return `${setting}: the ${what} is a placeholder (it contains ${PLACEHOLDER_WORDS_TEXT}); set a real one, ${GENERATE_SECRET_HINT}`;
}
